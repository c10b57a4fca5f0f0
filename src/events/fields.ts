export type Fields = Record<string, string>;

/** Named fields of one event, whatever it came from (an AMI frame, a security-log line). */
export interface FieldReader {
  /** The field's value as sent; the first one when a name repeats. */
  get(name: string): string | undefined;
  /**
   * The field's value when the name stands once; null when it stands twice (Asterisk writes
   * each name once: a repeat is a value that made a field of itself).
   */
  single(name: string): string | undefined | null;
}

/** A plain record read as fields (log lines, tests): a name stands once. */
export function recordReader(fields: Readonly<Record<string, string>>): FieldReader {
  const get = (name: string) => (Object.hasOwn(fields, name) ? fields[name] : undefined);
  return { get, single: get };
}
