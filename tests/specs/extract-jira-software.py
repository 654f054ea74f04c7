"""Extracts the Jira Software operations the jira_agile tools use from Atlassian's published
Jira Software Cloud OpenAPI document (as mirrored by xvrh/atlassian_apis tool/apis/jira_software.json).

Usage: python3 extract-jira-software.py jira_software.json jira-platform-v3.json jira-software-agile.json
"""
import copy
import json
import sys
src = json.load(open(sys.argv[1]))
plat = json.load(open(sys.argv[2]))
ops = [("/rest/agile/1.0/board", "get"), ("/rest/agile/1.0/board/{boardId}/sprint", "get"),
       ("/rest/agile/1.0/sprint/{sprintId}/issue", "get"), ("/rest/agile/1.0/sprint/{sprintId}/issue", "post"),
       ("/rest/agile/1.0/epic/{epicIdOrKey}/issue", "get")]
paths = {}
for p, m in ops:
    op = copy.deepcopy(src["paths"][p][m])
    paths.setdefault(p, {})[m] = op
patches = []
def param(op, name):
    return next(x for x in op["parameters"] if x["name"] == name)
# Query parameters the document types as objects, which the live API reads as comma-separated text.
for p, m, n in [("/rest/agile/1.0/board", "get", "type"), ("/rest/agile/1.0/board/{boardId}/sprint", "get", "state")]:
    param(paths[p][m], n)["schema"] = {"type": "string"}
    patches.append(f"{m.upper()} {p} query '{n}': the document types it `object`; the live API takes comma-separated values (reference page: 'Valid values: ...'), so `string`")
for p in ["/rest/agile/1.0/sprint/{sprintId}/issue", "/rest/agile/1.0/epic/{epicIdOrKey}/issue"]:
    param(paths[p]["get"], "fields")["schema"] = {"type": "array", "items": {"type": "string"}}
    patches.append(f"GET {p} query 'fields': the document's items are `object`; the live API takes field names (comma-separated), so items `string`")
# 200 replies the document gives only an example for: the document's own beans, as the examples show.
paths["/rest/agile/1.0/board/{boardId}/sprint"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {
    "type": "object", "properties": {"maxResults": {"type": "integer"}, "startAt": {"type": "integer"},
    "total": {"type": "integer"}, "isLast": {"type": "boolean"}, "values": {"type": "array", "items": {"$ref": "#/components/schemas/SprintBean"}}}}
patches.append("GET /rest/agile/1.0/board/{boardId}/sprint 200: the document has only an example; schema = a page of the document's `SprintBean` (the example's shape)")
for p in ["/rest/agile/1.0/sprint/{sprintId}/issue", "/rest/agile/1.0/epic/{epicIdOrKey}/issue"]:
    paths[p]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {"$ref": "#/components/schemas/SearchResults"}
    patches.append(f"GET {p} 200: the document has only an example; schema = the document's `SearchResults` (the example's shape)")
comps = {}
def refs(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "$ref":
                yield x.split("/")[-1]
            else:
                yield from refs(x)
    elif isinstance(v, list):
        for x in v:
            yield from refs(x)
todo = list(refs(paths))
while todo:
    n = todo.pop()
    if n in comps:
        continue
    comps[n] = src["components"]["schemas"][n]
    todo.extend(refs(comps[n]))
comps["ErrorCollection"] = plat["components"]["schemas"]["ErrorCollection"]
patches.append("components.ErrorCollection: copied from jira-platform-v3.json (error statuses are declared without content; the live API answers them with this body)")
out = {
    "openapi": src["openapi"],
    "info": {**src["info"], "x-source": "Atlassian's Jira Software Cloud OpenAPI (developer.atlassian.com/cloud/jira/software/swagger.v3.json), as mirrored in xvrh/atlassian_apis tool/apis/jira_software.json @ 14e9c7d3d28fee7fc13d98cfbc3966750210f3ec (2023-06-15); only the operations mcp-edge's jira_agile tools use, with the components they reference", "x-patches": patches},
    "servers": src["servers"],
    "paths": paths,
    "components": {"schemas": dict(sorted(comps.items())), "securitySchemes": src["components"]["securitySchemes"]},
}
json.dump(out, open(sys.argv[3], "w"), indent=1)
print(len(paths), "paths", len(comps), "schemas")
