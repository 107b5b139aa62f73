/**
 * A test's outside prerequisite (a binary, a data set): missing on a developer's machine, its
 * tests skip with the reason; missing under CI (CI=true), the run fails, since .ci/run installs
 * every prerequisite and a skip there would hide a broken install.
 */
export function prerequisite(available: boolean, what: string, howToGet: string): boolean {
  if (available) return true;
  const reason = `${what} is missing (${howToGet})`;
  if (process.env.CI === 'true') throw new Error(`${reason}: CI must run these tests, not skip them`);
  console.warn(`skipping the tests that need it: ${reason}`);
  return false;
}
