"""JSON Schemas and the AsyncAPI document, generated from the models and committed.

`python -m contracts.generate` (or `bvgconnect contracts export`) rewrites them;
`python -m contracts.generate --check` lists what is out of date. `incompatible_changes`
tells whether a schema can still read every message the older one allowed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from contracts.catalogue import CATALOGUE, Topic

PACKAGE_DIR = Path(__file__).resolve().parent
SCHEMAS = "schemas"
BASELINE = "baseline"
ASYNCAPI = "asyncapi.json"
KAFKA_BINDING_VERSION = "0.5.0"

_KEY_SCHEMAS: dict[str, dict[str, str]] = {
    "employer_no": {
        "type": "string",
        "pattern": r"^\d+$",
        "description": "employer_no: the employer's events stay in order.",
    },
    "employer_no:ahv": {
        "type": "string",
        "pattern": r"^\d+:756\.\d{4}\.\d{4}\.\d{2}$",
        "description": "employer_no:ahv: one worker's events at one employer stay in order.",
    },
}


def dumps(document: Mapping[str, Any]) -> str:
    """The committed text form: two-space indent, sorted keys, UTF-8, trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def topic_schema(t: Topic) -> dict[str, Any]:
    """JSON Schema of the messages on `t`, as producers serialise them."""
    return t.model.model_json_schema(mode="serialization")


def _channel_id(t: Topic) -> str:
    return t.name.replace(".", "_")


def asyncapi_document() -> dict[str, Any]:
    """AsyncAPI 3.0 description of every topic, its messages, producer and consumers."""
    _, defs = models_json_schema(
        [(t.model, "serialization") for t in CATALOGUE],
        ref_template="#/components/schemas/{model}",
    )
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for t in CATALOGUE:
        cid = _channel_id(t)
        name = t.model.__name__
        messages[name] = {
            "name": name,
            "title": t.model.model_fields["type"].default,
            "summary": t.description,
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{name}"},
            "bindings": {
                "kafka": {"key": _KEY_SCHEMAS[t.key], "bindingVersion": KAFKA_BINDING_VERSION}
            },
        }
        consumers = ", ".join(t.consumers) or "none yet"
        retired = "Retired: no longer published (a newer major replaced it). " * t.retired
        channels[cid] = {
            "address": t.name,
            "title": t.name,
            "description": f"{retired}{t.description} Producer: {t.producer}. "
            f"Consumers: {consumers}. Key: `{t.key}`. Dead letters: `{t.dlq}`.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": {"kafka": {"topic": t.name, "bindingVersion": KAFKA_BINDING_VERSION}},
        }
        message_ref = [{"$ref": f"#/channels/{cid}/messages/{name}"}]
        for action, service in [("send", t.producer), *(("receive", c) for c in t.consumers)]:
            operations[f"{service}_{action}_{cid}"] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{cid}"},
                "messages": message_ref,
                "summary": f"{service} {action}s {t.name}.",
                "tags": [{"name": service}],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "bvgconnect events",
            "version": "1",
            "description": "Kafka events between the bvgconnect services. Generated from "
            "`contracts/` by `bvgconnect contracts export`; do not edit.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": defs["$defs"]},
    }


def _expected(dest: Path) -> dict[Path, str]:
    files = {dest / SCHEMAS / f"{t.name}.json": dumps(topic_schema(t)) for t in CATALOGUE}
    files[dest / ASYNCAPI] = dumps(asyncapi_document())
    return files


def export(dest: Path | None = None) -> list[Path]:
    """Write every schema, the AsyncAPI document, and baselines of topics that lack one.

    Returns the files written. Schema files of topics no longer in the catalogue are removed;
    existing baselines are never touched.
    """
    dest = dest or PACKAGE_DIR
    expected = _expected(dest)
    (dest / SCHEMAS).mkdir(parents=True, exist_ok=True)
    for stale in sorted((dest / SCHEMAS).glob("*.json")):
        if stale not in expected:
            stale.unlink()
    written = []
    for path, text in expected.items():
        path.write_text(text, encoding="utf-8")
        written.append(path)
    (dest / BASELINE).mkdir(parents=True, exist_ok=True)
    for t in CATALOGUE:
        baseline = dest / BASELINE / f"{t.name}.json"
        if not baseline.exists():
            baseline.write_text(dumps(topic_schema(t)), encoding="utf-8")
            written.append(baseline)
    return written


def check(dest: Path | None = None) -> list[str]:
    """One line per committed file that differs from what `export` would write."""
    dest = dest or PACKAGE_DIR
    expected = _expected(dest)
    problems = []
    for path, text in expected.items():
        rel = path.relative_to(dest)
        if not path.exists():
            problems.append(f"{rel}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{rel}: differs from the models")
    for path in sorted((dest / SCHEMAS).glob("*.json")):
        if path not in expected:
            problems.append(f"{path.relative_to(dest)}: no such topic in the catalogue")
    names = {t.name for t in CATALOGUE}
    for t in CATALOGUE:
        if not (dest / BASELINE / f"{t.name}.json").exists():
            problems.append(f"{BASELINE}/{t.name}.json: missing")
    for path in sorted((dest / BASELINE).glob("*.json")):
        if path.stem not in names:
            problems.append(
                f"{path.relative_to(dest)}: topic left the catalogue (topics are never removed)"
            )
    return problems


def load_baseline(t: Topic, dest: Path | None = None) -> dict[str, Any]:
    """The schema `t` had when it was introduced."""
    path = (dest or PACKAGE_DIR) / BASELINE / f"{t.name}.json"
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


# --- compatibility --------------------------------------------------------------------------


def incompatible_changes(old_schema: Mapping[str, Any], new_schema: Mapping[str, Any]) -> list[str]:
    """Why `new_schema` may reject a message `old_schema` allowed; empty if it cannot.

    Listed: a removed property, a property newly required, a changed type, a narrowed enum,
    a changed or added const (e.g. `type`, `version`), a changed pattern. An added optional
    property is fine. `$ref`s into `$defs` are followed.
    """
    problems: list[str] = []
    _compare(_Schema(old_schema, old_schema), _Schema(new_schema, new_schema), "", problems)
    return sorted(set(problems))


class _Schema:
    """A schema node together with the document its `$ref`s point into."""

    def __init__(self, node: Mapping[str, Any], root: Mapping[str, Any]) -> None:
        while "$ref" in node:
            target: Any = root
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        self.node = node
        self.root = root

    def child(self, node: Mapping[str, Any]) -> _Schema:
        return _Schema(node, self.root)

    def alternatives(self) -> Iterator[_Schema]:
        """The node itself, or each branch of its `anyOf` / `oneOf`, flattened."""
        branches = self.node.get("anyOf") or self.node.get("oneOf")
        if not branches:
            yield self
            return
        for branch in branches:
            yield from self.child(branch).alternatives()

    def kind(self) -> str:
        """JSON type plus format, e.g. `string/date`; `any` when unconstrained."""
        node = self.node
        json_type = node.get("type")
        if json_type is None:
            if "properties" in node:
                json_type = "object"
            elif "items" in node:
                json_type = "array"
            else:
                return "any"
        fmt = node.get("format")
        return f"{json_type}/{fmt}" if fmt else str(json_type)


def _accepts(old_kind: str, new_kind: str) -> bool:
    if new_kind == "any" or old_kind == new_kind:
        return True
    old_type = old_kind.partition("/")[0]
    new_type, _, new_format = new_kind.partition("/")
    same_type = old_type == new_type or (old_type, new_type) == ("integer", "number")
    return same_type and not new_format


def _label(path: str) -> str:
    return path or "(root)"


def _compare(old: _Schema, new: _Schema, path: str, problems: list[str]) -> None:
    new_alts = list(new.alternatives())
    for old_alt in old.alternatives():
        matches = [n for n in new_alts if _accepts(old_alt.kind(), n.kind())]
        if not matches:
            now = " | ".join(sorted({n.kind() for n in new_alts}))
            problems.append(f"{_label(path)}: type changed, {old_alt.kind()} is now {now}")
            continue
        problems.extend(_narrowed_values(old_alt.node, [n.node for n in matches], path))
        # Several branches may share a type (e.g. two enums of strings): one that reads
        # everything the old branch allowed is enough; otherwise report the closest.
        closest: list[str] | None = None
        for candidate in sorted(matches, key=lambda n: n.kind() != old_alt.kind()):
            found: list[str] = []
            _compare_same_type(old_alt, candidate, path, found)
            if closest is None or len(found) < len(closest):
                closest = found
        problems.extend(closest or [])


def _allowed_values(node: Mapping[str, Any]) -> list[Any] | None:
    if "const" in node:
        return [node["const"]]
    if "enum" in node:
        return list(node["enum"])
    return None


def _narrowed_values(old: Mapping[str, Any], new: list[Mapping[str, Any]], path: str) -> list[str]:
    """An enum or const of `old` that no branch of `new` allows in full."""
    where = _label(path)
    new_values = [_allowed_values(n) for n in new]
    if any(values is None for values in new_values):
        return []
    allowed = [v for values in new_values for v in values or ()]
    old_values = _allowed_values(old)
    if old_values is None:
        return [f"{where}: enum narrowed, values now limited to {allowed!r}"]
    removed = [v for v in old_values if v not in allowed]
    if not removed:
        return []
    if "const" in old and len(allowed) == 1:
        return [f"{where}: const changed from {old['const']!r} to {allowed[0]!r}"]
    return [f"{where}: enum narrowed, {removed!r} no longer allowed"]


def _compare_same_type(old: _Schema, new: _Schema, path: str, problems: list[str]) -> None:
    o, n = old.node, new.node
    where = _label(path)
    if "pattern" in n and n["pattern"] != o.get("pattern"):
        problems.append(f"{where}: pattern changed from {o.get('pattern')!r} to {n['pattern']!r}")

    old_props: Mapping[str, Any] = o.get("properties", {})
    new_props: Mapping[str, Any] = n.get("properties", {})
    prefix = f"{path}." if path else ""
    for name in sorted(old_props):
        if name not in new_props:
            problems.append(f"{prefix}{name}: property removed")
            continue
        _compare(old.child(old_props[name]), new.child(new_props[name]), prefix + name, problems)
    old_required = set(o.get("required", ()))
    for name in sorted(set(n.get("required", ())) - old_required):
        problems.append(f"{prefix}{name}: property newly required")

    if isinstance(o.get("items"), Mapping) and isinstance(n.get("items"), Mapping):
        _compare(old.child(o["items"]), new.child(n["items"]), f"{path}[]", problems)
    old_extra, new_extra = o.get("additionalProperties"), n.get("additionalProperties")
    if isinstance(old_extra, Mapping) and isinstance(new_extra, Mapping):
        _compare(old.child(old_extra), new.child(new_extra), f"{path}{{}}", problems)


def main(argv: list[str] | None = None) -> int:
    """Regenerate the committed files, or with `--check` list what is out of date."""
    parser = argparse.ArgumentParser(prog="python -m contracts.generate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report differences")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for line in problems:
            print(line)
        return 1 if problems else 0
    for path in export():
        print(path.relative_to(PACKAGE_DIR.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
