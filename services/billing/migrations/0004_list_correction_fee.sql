-- The Art. 24 correction fee a priced list caused (`pricing.list-priced` names it): the list
-- is invoiced once the fee is here too, so that the fee always rides on the list's own
-- invoice, whichever of the two topics is read first. Lists stored before have none.
ALTER TABLE priced_lists ADD COLUMN correction_fee_id uuid;
