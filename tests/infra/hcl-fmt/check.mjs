// `terraform fmt -check -recursive` without terraform: formats every *.tf and *.tfvars file under the
// given directories with HashiCorp's hclwrite.Format (@cdktf/hcl-tools, the Go library `terraform fmt`
// is built on, as WebAssembly) and fails, naming each file and its first differing line, when one is
// not already formatted, or when nothing was checked. (`terraform fmt` also rewrites a few legacy
// forms, e.g. interpolation-only strings; hclwrite's layout rules are the same.)
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { format } from "@cdktf/hcl-tools";

function* files(dir) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (name.startsWith(".")) continue;
    if (statSync(path).isDirectory()) yield* files(path);
    else if (name.endsWith(".tf") || name.endsWith(".tfvars")) yield path;
  }
}

const dirs = process.argv.slice(2);
if (dirs.length === 0) {
  console.error("usage: node check.mjs DIR...");
  process.exit(2);
}
let checked = 0;
const unformatted = [];
for (const dir of dirs) {
  for (const path of files(dir)) {
    const text = readFileSync(path, "utf8");
    const formatted = await format(text);
    checked += 1;
    if (formatted !== text) {
      const a = text.split("\n");
      const b = formatted.split("\n");
      let i = 0;
      while (i < Math.max(a.length, b.length) && a[i] === b[i]) i += 1;
      unformatted.push(`${path}:${i + 1}: is\n    ${JSON.stringify(a[i] ?? "")}\n  formatted\n    ${JSON.stringify(b[i] ?? "")}`);
    }
  }
}
for (const u of unformatted) console.log(`not formatted: ${u}`);
console.log(`hcl fmt: ${checked} files checked, ${unformatted.length} not formatted`);
process.exit(checked > 0 && unformatted.length === 0 ? 0 : 1);
