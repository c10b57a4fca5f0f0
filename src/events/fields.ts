export type Fields = Record<string, string>;

/** Named fields of one event, whatever it came from (an AMI frame, a security-log line). */
export interface FieldReader {
  /** The field's value as sent; the first one when a name repeats. */
  get(name: string): string | undefined;
}

/** A plain record read as fields (log lines, tests). */
export function recordReader(fields: Readonly<Record<string, string>>): FieldReader {
  return { get: (name) => (Object.hasOwn(fields, name) ? fields[name] : undefined) };
}
