"""What the checks of the monthly list say to the employer, in German, French, Italian and English.

One entry per message key: the stable code of the finding (TEMPLATE.md "Checks and their
codes"), or `code:variant` where one code has several causes. Templates name their parameters
(`{column}`, `{header}`, `{expected}`, `{other_row}` ...). Messages never carry AHV numbers,
names or dates of birth: a row is named by its number ("row 7"), a cell by its column letter.
"""

from __future__ import annotations

from collections.abc import Mapping

from contracts.values import Language

LANGUAGES: tuple[Language, ...] = ("de", "fr", "it", "en")

#: Message key → language → template.
MESSAGES: dict[str, dict[Language, str]] = {
    # -- the file -----------------------------------------------------------------------
    "file.unreadable": {
        "de": "Die Datei kann nicht gelesen werden. Bitte senden Sie die Liste als "
        "Excel-Arbeitsmappe (.xlsx).",
        "fr": "Le fichier ne peut pas être lu. Veuillez envoyer la liste sous forme de "
        "classeur Excel (.xlsx).",
        "it": "Il file non può essere letto. Inviate la lista come cartella di lavoro "
        "Excel (.xlsx).",
        "en": "The file cannot be read. Please send the list as an Excel workbook (.xlsx).",
    },
    "file.unreadable:not_xlsx": {
        "de": "Die Datei ist keine Excel-Arbeitsmappe (.xlsx). Bitte speichern Sie die Liste "
        "als «Excel-Arbeitsmappe (.xlsx)» und laden Sie sie erneut hoch.",
        "fr": "Le fichier n'est pas un classeur Excel (.xlsx). Veuillez enregistrer la liste "
        "au format «Classeur Excel (.xlsx)» et la téléverser à nouveau.",
        "it": "Il file non è una cartella di lavoro Excel (.xlsx). Salvate la lista come "
        "«Cartella di lavoro di Excel (.xlsx)» e caricatela di nuovo.",
        "en": "The file is not an Excel workbook (.xlsx). Please save the list as "
        "'Excel Workbook (.xlsx)' and upload it again.",
    },
    "file.unreadable:corrupt": {
        "de": "Die Datei ist beschädigt. Bitte speichern Sie die Liste in Excel neu als .xlsx "
        "und laden Sie sie erneut hoch.",
        "fr": "Le fichier est endommagé. Veuillez réenregistrer la liste dans Excel au format "
        ".xlsx et la téléverser à nouveau.",
        "it": "Il file è danneggiato. Salvate di nuovo la lista in Excel come .xlsx e "
        "caricatela di nuovo.",
        "en": "The file is damaged. Please save the list again in Excel as .xlsx and upload "
        "it again.",
    },
    "file.unreadable:encrypted": {
        "de": "Die Datei ist mit einem Kennwort geschützt. Bitte entfernen Sie den "
        "Kennwortschutz und laden Sie die Liste erneut hoch.",
        "fr": "Le fichier est protégé par un mot de passe. Veuillez supprimer la protection "
        "et téléverser la liste à nouveau.",
        "it": "Il file è protetto da una password. Rimuovete la protezione e caricate di "
        "nuovo la lista.",
        "en": "The file is protected by a password. Please remove the protection and upload "
        "the list again.",
    },
    "file.unreadable:legacy_xls": {
        "de": "Die Datei hat das alte Excel-Format (.xls). Bitte speichern Sie die Liste als "
        "«Excel-Arbeitsmappe (.xlsx)» und laden Sie sie erneut hoch.",
        "fr": "Le fichier est à l'ancien format Excel (.xls). Veuillez enregistrer la liste "
        "au format «Classeur Excel (.xlsx)» et la téléverser à nouveau.",
        "it": "Il file ha il vecchio formato Excel (.xls). Salvate la lista come «Cartella di "
        "lavoro di Excel (.xlsx)» e caricatela di nuovo.",
        "en": "The file has the old Excel format (.xls). Please save the list as "
        "'Excel Workbook (.xlsx)' and upload it again.",
    },
    "file.unreadable:macros": {
        "de": "Die Datei enthält Makros (.xlsm). Bitte speichern Sie die Liste ohne Makros als "
        "«Excel-Arbeitsmappe (.xlsx)» und laden Sie sie erneut hoch.",
        "fr": "Le fichier contient des macros (.xlsm). Veuillez enregistrer la liste sans "
        "macros au format «Classeur Excel (.xlsx)» et la téléverser à nouveau.",
        "it": "Il file contiene macro (.xlsm). Salvate la lista senza macro come «Cartella di "
        "lavoro di Excel (.xlsx)» e caricatela di nuovo.",
        "en": "The file contains macros (.xlsm). Please save the list without macros as "
        "'Excel Workbook (.xlsx)' and upload it again.",
    },
    "file.unreadable:not_json": {
        "de": "Die Daten sind kein gültiges JSON mit einer Liste von Zeilen. Bitte senden Sie "
        "die Zeilen als JSON-Liste von Objekten.",
        "fr": "Les données ne sont pas un JSON valable contenant une liste de lignes. Veuillez "
        "envoyer les lignes comme liste JSON d'objets.",
        "it": "I dati non sono un JSON valido con una lista di righe. Inviate le righe come "
        "lista JSON di oggetti.",
        "en": "The data is not valid JSON holding a list of rows. Please send the rows as a "
        "JSON list of objects.",
    },
    "file.unreadable:internal": {
        "de": "Die Liste konnte wegen eines Fehlers bei uns nicht geprüft werden. Wir beheben "
        "ihn; Sie müssen nichts tun.",
        "fr": "La liste n'a pas pu être contrôlée en raison d'une erreur de notre part. Nous "
        "la corrigeons; vous n'avez rien à faire.",
        "it": "La lista non ha potuto essere controllata a causa di un errore da parte nostra. "
        "Lo correggiamo; non dovete fare nulla.",
        "en": "The list could not be checked because of an error on our side. We are fixing "
        "it; you need not do anything.",
    },
    "period.invoiced": {
        "de": "Die Periode {period} ist bereits verrechnet; eine neue Liste ersetzt die "
        "frühere nicht mehr. Bitte melden Sie Korrekturen als Zeilen mit negativen Stunden "
        "und negativem Lohn in der Liste der laufenden Periode.",
        "fr": "La période {period} est déjà facturée; une nouvelle liste ne remplace plus "
        "l'ancienne. Veuillez annoncer les corrections comme lignes avec heures et salaire "
        "négatifs dans la liste de la période en cours.",
        "it": "Il periodo {period} è già fatturato; una nuova lista non sostituisce più "
        "quella precedente. Notificate le correzioni come righe con ore e salario negativi "
        "nella lista del periodo in corso.",
        "en": "Period {period} is already invoiced; a new list no longer replaces the earlier "
        "one. Please report corrections as rows with negative hours and wage in the list of "
        "the current period.",
    },
    "file.too_large": {
        "de": "Die Datei ist zu gross. Bitte senden Sie nur die Blätter «Mutationen» und "
        "allenfalls «Einsätze», ohne Bilder und überflüssige Formatierungen.",
        "fr": "Le fichier est trop volumineux. Veuillez n'envoyer que les feuilles "
        "«Mutationen» et, le cas échéant, «Einsätze», sans images ni mises en forme inutiles.",
        "it": "Il file è troppo grande. Inviate solo i fogli «Mutationen» ed eventualmente "
        "«Einsätze», senza immagini né formattazioni superflue.",
        "en": "The file is too large. Please send only the sheets 'Mutationen' and, if used, "
        "'Einsätze', without pictures or needless formatting.",
    },
    "file.too_large:too_big": {
        "de": "Die Datei ist grösser als erlaubt. Bitte senden Sie nur die Blätter «Mutationen» "
        "und allenfalls «Einsätze», ohne Bilder und überflüssige Formatierungen.",
        "fr": "Le fichier dépasse la taille autorisée. Veuillez n'envoyer que les feuilles "
        "«Mutationen» et, le cas échéant, «Einsätze», sans images ni mises en forme inutiles.",
        "it": "Il file supera la dimensione consentita. Inviate solo i fogli «Mutationen» ed "
        "eventualmente «Einsätze», senza immagini né formattazioni superflue.",
        "en": "The file is larger than allowed. Please send only the sheets 'Mutationen' and, "
        "if used, 'Einsätze', without pictures or needless formatting.",
    },
    "file.too_large:too_many_rows": {
        "de": "Die Liste hat mehr Zeilen als erlaubt. Bitte löschen Sie leere und überflüssige "
        "Zeilen: die Liste enthält eine Zeile pro Mitarbeiter.",
        "fr": "La liste compte plus de lignes que permis. Veuillez supprimer les lignes vides "
        "ou superflues: la liste contient une ligne par collaborateur.",
        "it": "La lista ha più righe del consentito. Cancellate le righe vuote o superflue: "
        "la lista contiene una riga per collaboratore.",
        "en": "The list has more rows than allowed. Please delete empty and needless rows: "
        "the list holds one row per worker.",
    },
    "file.too_large:uncompressed_too_big": {
        "de": "Der Inhalt der Datei ist zu gross. Bitte entfernen Sie Bilder, überflüssige "
        "Blätter und Formatierungen und laden Sie die Liste erneut hoch.",
        "fr": "Le contenu du fichier est trop volumineux. Veuillez supprimer les images, les "
        "feuilles et les mises en forme inutiles et téléverser la liste à nouveau.",
        "it": "Il contenuto del file è troppo grande. Rimuovete immagini, fogli e "
        "formattazioni superflui e caricate di nuovo la lista.",
        "en": "The content of the file is too large. Please remove pictures, needless sheets "
        "and formatting and upload the list again.",
    },
    "file.no_sheet": {
        "de": "Die Arbeitsmappe hat kein Blatt «Mutationen» (vorhanden: {sheets}). Bitte "
        "benennen Sie das Blatt mit der Liste «Mutationen».",
        "fr": "Le classeur n'a pas de feuille «Mutationen» (présentes: {sheets}). Veuillez "
        "nommer «Mutationen» la feuille qui contient la liste.",
        "it": "La cartella di lavoro non ha un foglio «Mutationen» (presenti: {sheets}). "
        "Denominate «Mutationen» il foglio con la lista.",
        "en": "The workbook has no sheet 'Mutationen' (it has: {sheets}). Please name the "
        "sheet that holds the list 'Mutationen'.",
    },
    "file.headers:missing": {
        "de": "Im Blatt «{sheet}» fehlen in Zeile 1 Überschriften der Vorlage: {columns}. "
        "Bitte übernehmen Sie die Kopfzeile unverändert aus der Vorlage.",
        "fr": "Dans la feuille «{sheet}», des en-têtes du modèle manquent à la ligne 1: "
        "{columns}. Veuillez reprendre telle quelle la ligne d'en-tête du modèle.",
        "it": "Nel foglio «{sheet}» mancano nella riga 1 intestazioni del modello: {columns}. "
        "Riprendete senza modifiche la riga d'intestazione del modello.",
        "en": "Sheet '{sheet}' lacks headers of the template in row 1: {columns}. Please copy "
        "the header row from the template unchanged.",
    },
    "file.headers:misplaced": {
        "de": "Im Blatt «{sheet}» stehen Überschriften in der falschen Spalte (gefunden → "
        "erwartet): {columns}. Bitte ordnen Sie die Spalten wie in der Vorlage.",
        "fr": "Dans la feuille «{sheet}», des en-têtes sont dans la mauvaise colonne (trouvée "
        "→ attendue): {columns}. Veuillez disposer les colonnes comme dans le modèle.",
        "it": "Nel foglio «{sheet}» alcune intestazioni sono nella colonna sbagliata (trovata "
        "→ attesa): {columns}. Disponete le colonne come nel modello.",
        "en": "Sheet '{sheet}' has headers in the wrong column (found → expected): {columns}. "
        "Please order the columns as in the template.",
    },
    "file.headers:week": {
        "de": "Im Blatt «{sheet}» bezeichnet die Überschrift von Spalte {column} keine Woche. "
        "Bitte tragen Sie den Montag der Woche (TT.MM.JJJJ) oder die Kalenderwoche "
        "(z. B. 2025-W27) ein.",
        "fr": "Dans la feuille «{sheet}», l'en-tête de la colonne {column} ne désigne pas une "
        "semaine. Veuillez indiquer le lundi de la semaine (JJ.MM.AAAA) ou la semaine "
        "calendaire (p. ex. 2025-W27).",
        "it": "Nel foglio «{sheet}» l'intestazione della colonna {column} non indica una "
        "settimana. Indicate il lunedì della settimana (GG.MM.AAAA) o la settimana "
        "di calendario (p. es. 2025-W27).",
        "en": "In sheet '{sheet}' the header of column {column} names no week. Please enter "
        "the Monday of the week (DD.MM.YYYY) or the calendar week (e.g. 2025-W27).",
    },
    "file.headers:week_twice": {
        "de": "Im Blatt «{sheet}» bezeichnen die Spalten {other_column} und {column} dieselbe "
        "Woche. Bitte führen Sie jede Woche nur einmal auf.",
        "fr": "Dans la feuille «{sheet}», les colonnes {other_column} et {column} désignent la "
        "même semaine. Veuillez n'indiquer chaque semaine qu'une fois.",
        "it": "Nel foglio «{sheet}» le colonne {other_column} e {column} indicano la stessa "
        "settimana. Indicate ogni settimana una sola volta.",
        "en": "In sheet '{sheet}' columns {other_column} and {column} name the same week. "
        "Please list each week once only.",
    },
    "file.empty": {
        "de": "Die Liste enthält keine Daten. Bitte tragen Sie ab Zeile 2 je eine Zeile pro "
        "Mitarbeiter ein.",
        "fr": "La liste ne contient aucune donnée. Veuillez saisir, dès la ligne 2, une ligne "
        "par collaborateur.",
        "it": "La lista non contiene dati. Inserite, a partire dalla riga 2, una riga per "
        "collaboratore.",
        "en": "The list holds no data. Please enter one row per worker, from row 2 on.",
    },
    "cell.formula": {
        "de": "Spalte {column} ({header}) enthält eine Formel ohne gespeicherten Wert. Bitte "
        "tragen Sie den Wert selbst ein (kopieren und als Wert einfügen).",
        "fr": "La colonne {column} ({header}) contient une formule sans valeur enregistrée. "
        "Veuillez saisir la valeur elle-même (copier, puis coller les valeurs).",
        "it": "La colonna {column} ({header}) contiene una formula senza valore salvato. "
        "Inserite il valore stesso (copiare e incollare come valori).",
        "en": "Column {column} ({header}) holds a formula without a saved value. Please enter "
        "the value itself (copy, then paste as values).",
    },
    "cell.merged": {
        "de": "Die Zellen {range} sind verbunden. Bitte heben Sie die Verbindung auf und "
        "füllen Sie jede Zelle einzeln aus.",
        "fr": "Les cellules {range} sont fusionnées. Veuillez annuler la fusion et remplir "
        "chaque cellule séparément.",
        "it": "Le celle {range} sono unite. Annullate l'unione e compilate ogni cella "
        "singolarmente.",
        "en": "Cells {range} are merged. Please unmerge the cells and fill in each one.",
    },
    # -- a cell -------------------------------------------------------------------------
    "required": {
        "de": "Spalte {column} ({header}) ist leer. Bitte füllen Sie sie aus.",
        "fr": "La colonne {column} ({header}) est vide. Veuillez la remplir.",
        "it": "La colonna {column} ({header}) è vuota. Compilatela.",
        "en": "Column {column} ({header}) is empty. Please fill it in.",
    },
    "required:not_text": {
        "de": "Spalte {column} ({header}) muss Text enthalten. Bitte tragen Sie ihn als Text ein.",
        "fr": "La colonne {column} ({header}) doit contenir du texte. Veuillez le saisir en "
        "tant que texte.",
        "it": "La colonna {column} ({header}) deve contenere testo. Inseritelo come testo.",
        "en": "Column {column} ({header}) must hold text. Please enter it as text.",
    },
    "required:not_object": {
        "de": "Diese Zeile ist kein Objekt mit den Feldern der Liste. Bitte senden Sie jede "
        "Zeile als JSON-Objekt.",
        "fr": "Cette ligne n'est pas un objet avec les champs de la liste. Veuillez envoyer "
        "chaque ligne comme objet JSON.",
        "it": "Questa riga non è un oggetto con i campi della lista. Inviate ogni riga come "
        "oggetto JSON.",
        "en": "This row is not an object with the fields of the list. Please send each row "
        "as a JSON object.",
    },
    "capitals": {
        "de": "Spalte {column} ({header}) muss in GROSSBUCHSTABEN geschrieben sein (Art. 10.1).",
        "fr": "La colonne {column} ({header}) doit être écrite en MAJUSCULES (art. 10.1).",
        "it": "La colonna {column} ({header}) deve essere scritta in MAIUSCOLO (art. 10.1).",
        "en": "Column {column} ({header}) must be written in CAPITALS (Art. 10.1).",
    },
    "text.too_long": {
        "de": "Spalte {column} ({header}) ist länger als {max} Zeichen. Bitte kürzen Sie den Text.",
        "fr": "La colonne {column} ({header}) dépasse {max} caractères. Veuillez raccourcir "
        "le texte.",
        "it": "La colonna {column} ({header}) supera {max} caratteri. Abbreviate il testo.",
        "en": "Column {column} ({header}) is longer than {max} characters. Please shorten it.",
    },
    "postcode.format": {
        "de": "Spalte {column} ({header}) ist keine gültige Postleitzahl: 4 Ziffern, im "
        "Ausland Landeskürzel, Bindestrich und Postleitzahl (z. B. F-75000).",
        "fr": "La colonne {column} ({header}) n'est pas un numéro postal valable: 4 chiffres, "
        "à l'étranger code du pays, trait d'union et code postal (p. ex. F-75000).",
        "it": "La colonna {column} ({header}) non è un numero postale valido: 4 cifre, "
        "all'estero sigla del paese, trattino e codice postale (p. es. F-75000).",
        "en": "Column {column} ({header}) is not a valid postcode: 4 digits, abroad the "
        "country code, a hyphen and the postcode (e.g. F-75000).",
    },
    "ahv.format": {
        "de": "Spalte {column} ({header}) hat nicht die Form {expected}. Bitte tragen Sie die "
        "AHV-Nummer mit Punkten ein (Art. 10.3).",
        "fr": "La colonne {column} ({header}) n'a pas la forme {expected}. Veuillez saisir le "
        "numéro AVS avec les points (art. 10.3).",
        "it": "La colonna {column} ({header}) non ha la forma {expected}. Inserite il numero "
        "AVS con i punti (art. 10.3).",
        "en": "Column {column} ({header}) is not of the form {expected}. Please enter the AHV "
        "number with its dots (Art. 10.3).",
    },
    "ahv.checksum": {
        "de": "Die Prüfziffer der AHV-Nummer in Spalte {column} ({header}) stimmt nicht. "
        "Bitte übernehmen Sie die Nummer genau vom Versicherungsausweis.",
        "fr": "Le chiffre de contrôle du numéro AVS de la colonne {column} ({header}) est "
        "faux. Veuillez recopier exactement le numéro du certificat d'assurance.",
        "it": "La cifra di controllo del numero AVS nella colonna {column} ({header}) è "
        "errata. Riprendete esattamente il numero dal certificato d'assicurazione.",
        "en": "The check digit of the AHV number in column {column} ({header}) is wrong. "
        "Please copy the number exactly from the insurance card.",
    },
    "ahv.duplicate": {
        "de": "Dieselbe AHV-Nummer (Spalte {column}) steht auch in Zeile {other_row}. Bitte "
        "führen Sie jeden Mitarbeiter nur in einer Zeile auf.",
        "fr": "Le même numéro AVS (colonne {column}) figure aussi à la ligne {other_row}. "
        "Veuillez n'indiquer chaque collaborateur que sur une ligne.",
        "it": "Lo stesso numero AVS (colonna {column}) figura anche nella riga {other_row}. "
        "Indicate ogni collaboratore su una sola riga.",
        "en": "The same AHV number (column {column}) is also in row {other_row}. Please list "
        "each worker in one row only.",
    },
    "amount.format:not_number": {
        "de": "Spalte {column} ({header}) enthält keine Zahl. Bitte tragen Sie nur den Betrag "
        "ein, bei einer Korrektur mit «-» davor.",
        "fr": "La colonne {column} ({header}) ne contient pas de nombre. Veuillez saisir "
        "seulement le montant, précédé de «-» pour une correction.",
        "it": "La colonna {column} ({header}) non contiene un numero. Inserite solo l'importo, "
        "preceduto da «-» per una correzione.",
        "en": "Column {column} ({header}) holds no number. Please enter the amount only, with "
        "a leading '-' for a correction.",
    },
    "amount.format:one_decimal": {
        "de": "Spalte {column} ({header}) hat mehr als eine Dezimalstelle. Bitte runden Sie "
        "auf 10 Rappen (z. B. 400.1).",
        "fr": "La colonne {column} ({header}) a plus d'une décimale. Veuillez arrondir aux "
        "10 centimes (p. ex. 400.1).",
        "it": "La colonna {column} ({header}) ha più di un decimale. Arrotondate ai "
        "10 centesimi (p. es. 400.1).",
        "en": "Column {column} ({header}) has more than one decimal. Please round to "
        "10 centimes (e.g. 400.1).",
    },
    "amount.format:two_decimals": {
        "de": "Spalte {column} ({header}) hat mehr als zwei Dezimalstellen. Bitte runden Sie "
        "auf zwei Dezimalstellen.",
        "fr": "La colonne {column} ({header}) a plus de deux décimales. Veuillez arrondir à "
        "deux décimales.",
        "it": "La colonna {column} ({header}) ha più di due decimali. Arrotondate a due decimali.",
        "en": "Column {column} ({header}) has more than two decimals. Please round to two "
        "decimals.",
    },
    "amount.format:separators": {
        "de": "Spalte {column} ({header}): Bitte verwenden Sie den Punkt als Dezimalzeichen "
        "und keine Tausendertrennzeichen (z. B. 1234.5).",
        "fr": "Colonne {column} ({header}): veuillez utiliser le point comme séparateur "
        "décimal et aucun séparateur de milliers (p. ex. 1234.5).",
        "it": "Colonna {column} ({header}): usate il punto come separatore decimale e nessun "
        "separatore delle migliaia (p. es. 1234.5).",
        "en": "Column {column} ({header}): please use a point as the decimal separator and no "
        "thousands separator (e.g. 1234.5).",
    },
    "amount.format:too_large": {
        "de": "Der Betrag in Spalte {column} ({header}) ist nicht plausibel gross. Bitte "
        "prüfen Sie ihn.",
        "fr": "Le montant de la colonne {column} ({header}) est d'une grandeur non plausible. "
        "Veuillez le vérifier.",
        "it": "L'importo nella colonna {column} ({header}) è di una grandezza non plausibile. "
        "Verificatelo.",
        "en": "The amount in column {column} ({header}) is implausibly large. Please check it.",
    },
    "amount.format:negative": {
        "de": "Spalte {column} ({header}) ist negativ. Bitte tragen Sie die Stunden der Woche "
        "ohne Vorzeichen ein.",
        "fr": "La colonne {column} ({header}) est négative. Veuillez saisir les heures de la "
        "semaine sans signe.",
        "it": "La colonna {column} ({header}) è negativa. Inserite le ore della settimana "
        "senza segno.",
        "en": "Column {column} ({header}) is negative. Please enter the hours of the week "
        "without a sign.",
    },
    "amount.sign": {
        "de": "Grundlohn (Spalte {column}) und Stunden (U) haben verschiedene Vorzeichen. Bei "
        "einer Korrektur sind beide negativ, sonst beide positiv.",
        "fr": "Le salaire de base (colonne {column}) et les heures (U) ont des signes "
        "différents. Pour une correction, les deux sont négatifs, sinon les deux positifs.",
        "it": "Il salario di base (colonna {column}) e le ore (U) hanno segni diversi. Per una "
        "correzione sono entrambi negativi, altrimenti entrambi positivi.",
        "en": "The base wage (column {column}) and the hours (U) have different signs. For a "
        "correction both are negative, otherwise both positive.",
    },
    "amount.sign:no_hours": {
        "de": "Ein Grundlohn (V) ohne Stunden (Spalte {column}) ergibt keinen Stundenlohn. "
        "Bitte tragen Sie die Stunden der Periode ein.",
        "fr": "Un salaire de base (V) sans heures (colonne {column}) ne donne pas de salaire "
        "horaire. Veuillez saisir les heures de la période.",
        "it": "Un salario di base (V) senza ore (colonna {column}) non dà un salario orario. "
        "Inserite le ore del periodo.",
        "en": "A base wage (V) without hours (column {column}) gives no hourly wage. Please "
        "enter the hours of the period.",
    },
    "date.format": {
        "de": "Spalte {column} ({header}) enthält kein gültiges Datum. Bitte verwenden Sie die "
        "Form TT.MM.JJJJ (z. B. 13.01.2015).",
        "fr": "La colonne {column} ({header}) ne contient pas de date valable. Veuillez "
        "utiliser la forme JJ.MM.AAAA (p. ex. 13.01.2015).",
        "it": "La colonna {column} ({header}) non contiene una data valida. Usate la forma "
        "GG.MM.AAAA (p. es. 13.01.2015).",
        "en": "Column {column} ({header}) holds no valid date. Please use the form DD.MM.YYYY "
        "(e.g. 13.01.2015).",
    },
    "date.format:monday": {
        "de": "Spalte {column} ({header}): Eine Woche wird mit ihrem Montag bezeichnet. Bitte "
        "tragen Sie den Montag der Woche ein.",
        "fr": "Colonne {column} ({header}): une semaine est désignée par son lundi. Veuillez "
        "indiquer le lundi de la semaine.",
        "it": "Colonna {column} ({header}): una settimana è indicata dal suo lunedì. Indicate "
        "il lunedì della settimana.",
        "en": "Column {column} ({header}): a week is named by its Monday. Please enter the "
        "Monday of the week.",
    },
    "date.range:too_early": {
        "de": "Das Datum in Spalte {column} ({header}) liegt vor dem {earliest} und ist nicht "
        "plausibel. Bitte prüfen Sie es.",
        "fr": "La date de la colonne {column} ({header}) est antérieure au {earliest} et n'est "
        "pas plausible. Veuillez la vérifier.",
        "it": "La data nella colonna {column} ({header}) è anteriore al {earliest} e non è "
        "plausibile. Verificatela.",
        "en": "The date in column {column} ({header}) is before {earliest}, which is not "
        "plausible. Please check it.",
    },
    "date.range:too_late": {
        "de": "Das Datum in Spalte {column} ({header}) liegt nach dem {latest}, dem Ende der "
        "Periode. Bitte melden Sie es in der Liste des Monats, in dem es liegt.",
        "fr": "La date de la colonne {column} ({header}) est postérieure au {latest}, fin de "
        "la période. Veuillez l'annoncer dans la liste du mois concerné.",
        "it": "La data nella colonna {column} ({header}) è posteriore al {latest}, fine del "
        "periodo. Notificatela nella lista del mese in cui cade.",
        "en": "The date in column {column} ({header}) is after {latest}, the end of the "
        "period. Please report it in the list of its month.",
    },
    "date.range:exit_before_entry": {
        "de": "Das Austrittsdatum (Spalte {column}) liegt vor dem Beitrittsdatum (Spalte "
        "{other_column}). Bitte prüfen Sie beide Daten.",
        "fr": "La date de sortie (colonne {column}) est antérieure à la date d'entrée "
        "(colonne {other_column}). Veuillez vérifier les deux dates.",
        "it": "La data d'uscita (colonna {column}) è anteriore alla data d'entrata (colonna "
        "{other_column}). Verificate entrambe le date.",
        "en": "The exit date (column {column}) is before the entry date (column "
        "{other_column}). Please check both dates.",
    },
    "date.range:end_before_start": {
        "de": "Das Einsatzende (Spalte {column}) liegt vor dem Einsatzbeginn (Spalte "
        "{other_column}). Bitte prüfen Sie beide Daten.",
        "fr": "La fin de la mission (colonne {column}) est antérieure à son début (colonne "
        "{other_column}). Veuillez vérifier les deux dates.",
        "it": "La fine della missione (colonna {column}) è anteriore al suo inizio (colonna "
        "{other_column}). Verificate entrambe le date.",
        "en": "The end of the assignment (column {column}) is before its start (column "
        "{other_column}). Please check both dates.",
    },
    "date.range:extension_outside": {
        "de": "Das Datum der Verlängerung (Spalte {column}) liegt nicht innerhalb des "
        "Einsatzes. Bitte prüfen Sie es.",
        "fr": "La date de la prolongation (colonne {column}) ne se situe pas pendant la "
        "mission. Veuillez la vérifier.",
        "it": "La data della proroga (colonna {column}) non cade durante la missione. "
        "Verificatela.",
        "en": "The date of the extension (column {column}) is not within the assignment. "
        "Please check it.",
    },
    "code.unknown": {
        "de": "Spalte {column} ({header}) enthält keinen gültigen Wert. Erlaubt: {expected}.",
        "fr": "La colonne {column} ({header}) ne contient pas de valeur valable. Valeurs "
        "admises: {expected}.",
        "it": "La colonna {column} ({header}) non contiene un valore valido. Valori ammessi: "
        "{expected}.",
        "en": "Column {column} ({header}) holds no valid value. Allowed: {expected}.",
    },
    "employer.mismatch": {
        "de": "Die Firmennummer {value} in Spalte {column} ist nicht die Ihre. Bitte tragen "
        "Sie in jeder Zeile {expected} ein.",
        "fr": "Le numéro d'entreprise {value} de la colonne {column} n'est pas le vôtre. "
        "Veuillez saisir {expected} sur chaque ligne.",
        "it": "Il numero d'azienda {value} nella colonna {column} non è il vostro. Inserite "
        "{expected} in ogni riga.",
        "en": "Company number {value} in column {column} is not yours. Please enter "
        "{expected} in every row.",
    },
    "employer.mismatch:not_number": {
        "de": "Spalte {column} ({header}) enthält keine Firmennummer. Bitte tragen Sie in "
        "jeder Zeile {expected} ein.",
        "fr": "La colonne {column} ({header}) ne contient pas de numéro d'entreprise. Veuillez "
        "saisir {expected} sur chaque ligne.",
        "it": "La colonna {column} ({header}) non contiene un numero d'azienda. Inserite "
        "{expected} in ogni riga.",
        "en": "Column {column} ({header}) holds no company number. Please enter {expected} in "
        "every row.",
    },
    "zero_wage.reason": {
        "de": "Spalte {column} ({header}) ist 0, obwohl Stunden oder Lohn gemeldet sind. Bitte "
        "begründen Sie die 0 mit Mutationscode 4-7 in Spalte M oder tragen Sie den Betrag "
        "ein (Art. 9).",
        "fr": "La colonne {column} ({header}) vaut 0 alors que des heures ou un salaire sont "
        "annoncés. Veuillez justifier le 0 par un code de mutation 4-7 en colonne M ou "
        "saisir le montant (art. 9).",
        "it": "La colonna {column} ({header}) vale 0 benché siano notificati ore o salario. "
        "Giustificate lo 0 con un codice di mutazione 4-7 nella colonna M o inserite "
        "l'importo (art. 9).",
        "en": "Column {column} ({header}) is 0 although hours or a wage are reported. Please "
        "give the reason as mutation code 4-7 in column M, or enter the amount (Art. 9).",
    },
    "entry.date_missing": {
        "de": "Mutationscode 1 (Beitritt) verlangt ein Beitrittsdatum in Spalte {column} "
        "({header}). Bitte tragen Sie es ein.",
        "fr": "Le code de mutation 1 (entrée) exige une date d'entrée en colonne {column} "
        "({header}). Veuillez la saisir.",
        "it": "Il codice di mutazione 1 (entrata) richiede una data d'entrata nella colonna "
        "{column} ({header}). Inseritela.",
        "en": "Mutation code 1 (entry) needs an entry date in column {column} ({header}). "
        "Please enter it.",
    },
    "exit.date_missing": {
        "de": "Mutationscode 2 (Austritt) verlangt ein Austrittsdatum in Spalte {column} "
        "({header}). Bitte tragen Sie es ein.",
        "fr": "Le code de mutation 2 (sortie) exige une date de sortie en colonne {column} "
        "({header}). Veuillez la saisir.",
        "it": "Il codice di mutazione 2 (uscita) richiede una data d'uscita nella colonna "
        "{column} ({header}). Inseritela.",
        "en": "Mutation code 2 (exit) needs an exit date in column {column} ({header}). "
        "Please enter it.",
    },
    "old_ahv.missing": {
        "de": "Mutationscode 3 (Wechsel der AHV-Nummer) verlangt die alte AHV-Nummer in "
        "Spalte {column} ({header}). Bitte tragen Sie sie ein.",
        "fr": "Le code de mutation 3 (changement de numéro AVS) exige l'ancien numéro AVS en "
        "colonne {column} ({header}). Veuillez le saisir.",
        "it": "Il codice di mutazione 3 (cambiamento del numero AVS) richiede il vecchio "
        "numero AVS nella colonna {column} ({header}). Inseritelo.",
        "en": "Mutation code 3 (change of AHV number) needs the old AHV number in column "
        "{column} ({header}). Please enter it.",
    },
    "age.range:under": {
        "de": "Das BVG-Alter in dieser Periode ist {age}; versichert wird ab BVG-Alter "
        "{minimum} (Art. 1.1). Bitte prüfen Sie das Geburtsdatum (Spalte {column}) oder "
        "lassen Sie die Zeile weg.",
        "fr": "L'âge LPP pendant cette période est de {age}; l'assurance commence à l'âge LPP "
        "de {minimum} (art. 1.1). Veuillez vérifier la date de naissance (colonne {column}) "
        "ou omettre la ligne.",
        "it": "L'età LPP in questo periodo è {age}; l'assicurazione inizia all'età LPP di "
        "{minimum} (art. 1.1). Verificate la data di nascita (colonna {column}) oppure "
        "tralasciate la riga.",
        "en": "The BVG age in this period is {age}; insurance starts at BVG age {minimum} "
        "(Art. 1.1). Please check the date of birth (column {column}) or leave the row out.",
    },
    "age.range:over": {
        "de": "Das Referenzalter wurde vor dieser Periode erreicht (BVG-Alter {age}); Beiträge "
        "sind nur bis zum Monat des Referenzalters geschuldet. Bitte prüfen Sie das "
        "Geburtsdatum (Spalte {column}) und den Geschlechtscode (T).",
        "fr": "L'âge de référence a été atteint avant cette période (âge LPP {age}); les "
        "cotisations ne sont dues que jusqu'au mois de l'âge de référence. Veuillez vérifier "
        "la date de naissance (colonne {column}) et le code du sexe (T).",
        "it": "L'età di riferimento è stata raggiunta prima di questo periodo (età LPP {age}); "
        "i contributi sono dovuti solo fino al mese dell'età di riferimento. Verificate la "
        "data di nascita (colonna {column}) e il codice del sesso (T).",
        "en": "The reference age was reached before this period (BVG age {age}); "
        "contributions are due up to the month of the reference age only. Please check the "
        "date of birth (column {column}) and the sex code (T).",
    },
    "invalidity.range": {
        "de": "Spalte {column} ({header}) muss eine ganze Zahl von 0 bis 100 sein (Prozent).",
        "fr": "La colonne {column} ({header}) doit être un nombre entier de 0 à 100 (pour cent).",
        "it": "La colonna {column} ({header}) deve essere un numero intero da 0 a 100 (percento).",
        "en": "Column {column} ({header}) must be a whole number from 0 to 100 (per cent).",
    },
    "invalidity.range:entry": {
        "de": "Mit einem Invaliditätsgrad von 70 % oder mehr (Spalte {column}) ist kein "
        "Beitritt möglich (Art. 1.3). Bitte prüfen Sie den Grad und den Mutationscode.",
        "fr": "Avec un degré d'invalidité de 70 % ou plus (colonne {column}), aucune entrée "
        "n'est possible (art. 1.3). Veuillez vérifier le degré et le code de mutation.",
        "it": "Con un grado d'invalidità del 70 % o più (colonna {column}) l'entrata non è "
        "possibile (art. 1.3). Verificate il grado e il codice di mutazione.",
        "en": "With an invalidity degree of 70 % or more (column {column}) no entry is "
        "possible (Art. 1.3). Please check the degree and the mutation code.",
    },
    "assignment.unknown_worker": {
        "de": "Die AHV-Nummer in Spalte {column} ({header}) steht in keiner Zeile des Blatts "
        "«Mutationen». Bitte ergänzen Sie den Mitarbeiter dort oder löschen Sie den Einsatz.",
        "fr": "Le numéro AVS de la colonne {column} ({header}) ne figure sur aucune ligne de "
        "la feuille «Mutationen». Veuillez y ajouter le collaborateur ou supprimer la mission.",
        "it": "Il numero AVS nella colonna {column} ({header}) non figura in nessuna riga del "
        "foglio «Mutationen». Aggiungete lì il collaboratore o cancellate la missione.",
        "en": "The AHV number in column {column} ({header}) is in no row of sheet "
        "'Mutationen'. Please add the worker there or delete the assignment.",
    },
    # -- warnings: declared amounts that differ from the computed ones ---------------------
    "declared.insured_wage": {
        "de": "Der koordinierte Lohn {declared} (Spalte {column}) weicht um mehr als "
        "{tolerance} vom berechneten {computed} ab. Verrechnet wird der berechnete Betrag; "
        "die Zeile gilt als korrigiert.",
        "fr": "Le salaire coordonné {declared} (colonne {column}) s'écarte de plus de "
        "{tolerance} du montant calculé {computed}. Le montant calculé est facturé; la ligne "
        "est considérée comme corrigée.",
        "it": "Il salario coordinato {declared} (colonna {column}) si scosta di più di "
        "{tolerance} dall'importo calcolato {computed}. Viene fatturato l'importo calcolato; "
        "la riga è considerata corretta.",
        "en": "The insured wage {declared} (column {column}) differs by more than {tolerance} "
        "from the computed {computed}. The computed amount is billed; the row counts as "
        "corrected.",
    },
    "declared.premium": {
        "de": "Die Total Prämie {declared} (Spalte {column}) weicht um mehr als {tolerance} "
        "von der berechneten {computed} ab. Verrechnet wird der berechnete Betrag; die Zeile "
        "gilt als korrigiert.",
        "fr": "La prime totale {declared} (colonne {column}) s'écarte de plus de {tolerance} "
        "du montant calculé {computed}. Le montant calculé est facturé; la ligne est "
        "considérée comme corrigée.",
        "it": "Il premio totale {declared} (colonna {column}) si scosta di più di {tolerance} "
        "dall'importo calcolato {computed}. Viene fatturato l'importo calcolato; la riga è "
        "considerata corretta.",
        "en": "The total premium {declared} (column {column}) differs by more than "
        "{tolerance} from the computed {computed}. The computed amount is billed; the row "
        "counts as corrected.",
    },
}


def key_of(code: str, variant: str = "") -> str:
    """The message key of a finding: its code, or `code:variant` where the code has several."""
    return f"{code}:{variant}" if variant else code


def render(key: str, language: Language, params: Mapping[str, str]) -> str:
    """The sentence of `key` in `language`, its parameters filled in; extra params are ignored."""
    return MESSAGES[key][language].format_map(params)
