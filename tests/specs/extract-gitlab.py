#!/usr/bin/env python3
"""Builds tests/specs/gitlab-v4.openapi-extract.json, the GitLab fake's contract.

For every operation the GitLab tools call (the operations of the hand-written, docs-derived
tests/specs/gitlab-v4.json), the operation is taken verbatim from GitLab's own generated OpenAPI
document (doc/api/openapi/openapi_v3.yaml of gitlab-org/gitlab) when that document has it, with
the component schemas it references, transitively; otherwise the docs-derived operation is kept,
marked `x-source: docs` with the reason. Nothing is rewritten inside an operation taken from
GitLab's document except path parameter names of docs-derived operations that share its path
(GitLab names `/merge_requests/{noteable_id}/discussions` what the REST pages call
`{merge_request_iid}`), so that one path template holds both, and Grape's optional path
segments, which the contract's path templates cannot express: GitLab's key
`/projects/{id}/(-/)search` is written `/projects/{id}/search` (its `x-source-path` keeps the key).

Input: the whole generated document, or tests/specs/gitlab-openapi-v3.excerpt.yaml (verbatim
excerpts of it, each preceded by a `# page at offset N` comment naming where it was read).

    python3 tests/specs/extract-gitlab.py \
        --openapi tests/specs/gitlab-openapi-v3.excerpt.yaml \
        --docs tests/specs/gitlab-v4.json \
        --out tests/specs/gitlab-v4.openapi-extract.json

Needs PyYAML (any 5.x/6.x). Deterministic: the same inputs give the same bytes.
"""

import argparse
import copy
import json
import re
import sys

import yaml

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
SCHEMA_REF = "#/components/schemas/"
SOURCE = {
    "repository": "gitlabhq/gitlabhq (GitHub mirror of gitlab-org/gitlab)",
    "commit": "045bf8777ea893e770b49d420febaeb7bf89e24a",
    "file": "doc/api/openapi/openapi_v3.yaml",
    "document_version": "19.5",
    "document_chars": 3912294,
    "license": "CC BY-SA 4.0",
}


def plain(path):
    """A GitLab path key without Grape's optional segments: `/projects/{id}/(-/)search` (both
    `/-/search` and `/search` route there) becomes `/projects/{id}/search`, the form callers use."""
    return re.sub(r"\([^)]*\)", "", path)


def shape(path):
    """A path template with its parameter names erased: the route it names."""
    return re.sub(r"\{[^}]*\}", "{}", plain(path))


def refs(node):
    """Names of the component schemas `node` references directly."""
    found = []
    if isinstance(node, dict):
        r = node.get("$ref")
        if isinstance(r, str) and r.startswith(SCHEMA_REF):
            found.append(r[len(SCHEMA_REF):])
        for v in node.values():
            found.extend(refs(v))
    elif isinstance(node, list):
        for v in node:
            found.extend(refs(v))
    return found


def closure(node, schemas):
    """The component schemas `node` needs, transitively; (names, missing names)."""
    need, missing, todo = [], [], list(refs(node))
    while todo:
        name = todo.pop(0)
        if name in need or name in missing:
            continue
        if name not in schemas:
            missing.append(name)
            continue
        need.append(name)
        todo.extend(refs(schemas[name]))
    return need, missing


def where(text, key, kind):
    """Where `key` was read: its character offset in the whole document, or the page offset the
    excerpt's comment above it names."""
    line = f'  "{key}":\n' if kind == "path" else f"    {key}:\n"
    i = text.find(line)
    if i < 0 and kind == "path":
        # Long keys are written as YAML complex keys (`? "..."`).
        line = f'  ? "{key}"\n'
        i = text.find(line)
    if i < 0:
        return None
    before = text[:i].rstrip("\n").rsplit("\n", 1)[-1].strip()
    m = re.match(r"# pages? at offsets? (.*)", before)
    if m:
        return {"excerpt_comment": m.group(0)[2:]}
    return {"char_offset": i}


def fill_bodies(op, dop, docs_schemas, docs_need):
    """Where GitLab's operation declares a success status without a body (its Grape endpoint
    presents no entity: a file's hash, the scope-dependent search results) and the REST page's
    operation has a JSON body for it, that body (`x-content-source: docs`) so replies are still
    checked; the statuses filled, listed in tests/specs/README.md."""
    filled = []
    for status, resp in op.get("responses", {}).items():
        docs_resp = dop.get("responses", {}).get(status, {})
        if status.startswith("2") and "content" not in resp and "content" in docs_resp:
            resp["content"] = copy.deepcopy(docs_resp["content"])
            resp["x-content-source"] = "docs"
            need, missing = closure(resp["content"], docs_schemas)
            if missing:
                sys.exit(f"docs schemas missing: {missing}")
            docs_need.extend(n for n in need if n not in docs_need)
            filled.append(status)
    return filled


def rename_path_params(op, names):
    """Renames a docs-derived operation's path parameters, in order, to `names`."""
    params = [p for p in op.get("parameters", []) if p.get("in") == "path"]
    for p, n in zip(params, names):
        p["name"] = n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--openapi", required=True, help="GitLab's openapi_v3.yaml, or the excerpt")
    ap.add_argument("--docs", required=True, help="the docs-derived gitlab-v4.json")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    text = open(a.openapi, encoding="utf-8").read()
    gl = yaml.safe_load(text)
    docs = json.load(open(a.docs, encoding="utf-8"))
    gl_schemas = gl.get("components", {}).get("schemas", {})
    docs_schemas = docs.get("components", {}).get("schemas", {})
    by_shape = {}
    for key, item in gl.get("paths", {}).items():
        by_shape.setdefault(shape(key), (key, item))

    paths, gl_need, docs_need, record = {}, [], ["Error"], []
    for dkey, ditem in docs["paths"].items():
        gkey, gitem = by_shape.get(shape(dkey), (None, None))
        for method in METHODS:
            if method not in ditem:
                continue
            entry = {"method": method.upper(), "path": dkey}
            op = None
            if gitem is not None and method in gitem:
                need, missing = closure(gitem[method], gl_schemas)
                gl_body = gitem[method].get("requestBody", {}).get("content", {})
                docs_body = ditem[method].get("requestBody", {}).get("content", {})
                if gl_body and "application/json" not in gl_body and "application/json" in docs_body:
                    # GitLab's generator declares Grape's file-upload endpoints (`POST …/commits`:
                    # `RequestBody_2ce858a8cd90`, one `file`) multipart only, while the REST page
                    # and the live API take the JSON body the tools send.
                    entry["x-source"] = "docs"
                    entry["reason"] = (
                        "GitLab's document declares only a "
                        + ", ".join(sorted(gl_body))
                        + " request body ("
                        + ", ".join(sorted(set(refs(gl_body))))
                        + "); the REST page documents the JSON body the tools send"
                    )
                elif missing:
                    entry["x-source"] = "docs"
                    entry["reason"] = "schemas not in the input: " + ", ".join(sorted(missing))
                else:
                    op = copy.deepcopy(gitem[method])
                    op["x-source"] = "gitlab-openapi"
                    op["x-source-path"] = gkey
                    gl_need.extend(n for n in need if n not in gl_need)
                    entry["x-source"] = "gitlab-openapi"
                    entry["gitlab_path"] = gkey
                    entry["read_at"] = where(text, gkey, "path")
                    filled = fill_bodies(op, ditem[method], docs_schemas, docs_need)
                    if filled:
                        entry["body_from_docs"] = filled
            else:
                entry["x-source"] = "docs"
                entry["reason"] = "operation not in the input document"
            if op is None:
                op = copy.deepcopy(ditem[method])
                op["x-source"] = "docs"
                op["x-source-reason"] = entry["reason"]
                need, missing = closure(op, docs_schemas)
                if missing:
                    sys.exit(f"{method} {dkey}: docs schemas missing: {missing}")
                docs_need.extend(n for n in need if n not in docs_need)
            # Every operation of one route goes under one key: GitLab's when it has any of them.
            existing = next((k for k in paths if shape(k) == shape(dkey)), None)
            out_key = plain(gkey) if op["x-source"] == "gitlab-openapi" else (existing or dkey)
            if existing is not None and existing != out_key:
                for m, o in paths.pop(existing).items():
                    if o.get("x-source") == "docs":
                        rename_path_params(o, re.findall(r"\{([^}]*)\}", out_key))
                    paths.setdefault(out_key, {})[m] = o
            if op["x-source"] == "docs" and out_key != dkey:
                rename_path_params(op, re.findall(r"\{([^}]*)\}", out_key))
            paths.setdefault(out_key, {})[method] = op
            record.append(entry)

    clash = set(gl_need) & set(docs_need)
    if clash:
        sys.exit(f"schema names in both documents: {sorted(clash)}")
    schemas = {n: gl_schemas[n] for n in gl_need}
    for n in gl_need:
        schemas[n]["x-source"] = "gitlab-openapi"
        schemas[n]["x-read-at"] = where(text, n, "schema")
    for n in docs_need:
        schemas[n] = copy.deepcopy(docs_schemas[n])
        schemas[n]["x-source"] = "docs"

    from_gl = sum(1 for e in record if e["x-source"] == "gitlab-openapi")
    out = {
        "openapi": "3.0.0",
        "info": {
            "title": "GitLab REST API v4: the operations mcp-edge's GitLab tools use",
            "version": "v4",
            "description": (
                f"{from_gl} of {len(record)} operations verbatim from GitLab's generated OpenAPI "
                "document (x-source: gitlab-openapi, with the APIEntities* schemas they "
                "reference); the others from the hand-written, docs-derived gitlab-v4.json "
                "(x-source: docs, externalDocs naming the REST page). Generated by "
                "tests/specs/extract-gitlab.py; see tests/specs/README.md."
            ),
            "x-provenance": {
                "gitlab_openapi": SOURCE,
                "input": a.openapi.split("/")[-1],
                "docs": a.docs.split("/")[-1],
                "operations": record,
            },
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, sort_keys=False, ensure_ascii=False)
        f.write("\n")
    print(f"{from_gl} operations from GitLab's document, {len(record) - from_gl} from docs")


if __name__ == "__main__":
    main()
