// Prints the line CI understands as the very last line of a run: "N passed, N failed, N skipped",
// after listing each skipped test (its name carries the reason). Errors outside tests count as
// failures, so the line never says 0 failed on a run that failed.
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = unhandledErrors.length;
    const skipped: string[] = [];
    for (const mod of modules) {
      let failedHere = 0;
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failedHere++;
        else if (state === 'skipped')
          skipped.push(`${mod.moduleId.replace(process.cwd() + '/', '')} > ${test.fullName}`);
      }
      // A file can fail with no failed test: an import error, or a beforeAll/afterAll hook that threw.
      failed += failedHere > 0 ? failedHere : mod.state() === 'failed' ? 1 : 0;
    }
    if (skipped.length > 0) {
      process.stdout.write(`\nskipped tests:\n${skipped.map((s) => `  - ${s}`).join('\n')}\n`);
    }
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped.length} skipped\n`);
  }
}
