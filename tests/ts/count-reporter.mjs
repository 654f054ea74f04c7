// A node:test reporter that counts tests from the runner's own events (not from any text format) and
// prints one closing line, "<label>: N passed, N failed, N skipped", which tests/run-all.sh reads.
// Suites (describe blocks) are not tests; skipped and todo tests are counted apart, never as passed.
// The label is the TS_LABEL environment variable (default "typescript").
export default async function* countReporter(source) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    if (event.data.details?.type === "suite") continue;
    if (event.data.skip !== undefined || event.data.todo !== undefined) skipped += 1;
    else if (event.type === "test:pass") passed += 1;
    else failed += 1;
  }
  yield `${process.env.TS_LABEL ?? "typescript"}: ${passed} passed, ${failed} failed, ${skipped} skipped\n`;
}
