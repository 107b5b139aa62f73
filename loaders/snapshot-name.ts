/** The one rule for snapshot names, shared by the API and SNAPSHOT_SCHEDULE. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

/** Why `name` is not a snapshot name, or null when it is one. */
export function snapshotNameProblem(name: string): string | null {
  return NAME.test(name)
    ? null
    : `must be 1..128 characters of letters, digits, "_", ".", ":" or "-", starting with a letter or digit (got ${JSON.stringify(name)})`;
}
