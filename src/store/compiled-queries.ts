/**
 * Compiled-query reuse for the issuance path's hot statements. Kysely builds a query's operation
 * tree and compiles it to SQL on every execution, a few microseconds per bound value (a batch of
 * certificates is 15 values a row). These statements' SQL text depends only on their shape (a row
 * count, a list length), so it is compiled once per shape and reused with each call's parameters.
 *
 * The first compilation of each shape checks that the parameters the caller lists are exactly the
 * ones Kysely bound, in order: a mismatch is a bug caught at once, not values written into the
 * wrong columns. Values are still bound as parameters, never spliced into the text.
 */
import { CompiledQuery, type Compilable, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.ts';

/** Shapes kept per cache; the issuance path has a few per batch size. */
const SHAPE_LIMIT = 512;

/** SQL text per query shape, for one database (one dialect: the text is dialect-specific). */
export class CompiledQueries {
  readonly #sql = new Map<string, string>();

  /**
   * Runs the query `build` returns, compiled once per `shape` (a key naming the query and whatever
   * changes its text), with `parameters`; returns its rows.
   */
  async execute<O>(q: Kysely<Database> | Transaction<Database>, shape: string, parameters: readonly unknown[], build: () => Compilable<O>): Promise<O[]> {
    const result = await q.executeQuery(this.compile(shape, parameters, build));
    return result.rows;
  }

  /** The query `build` returns with `parameters`, its text compiled once per `shape` (see execute). */
  compile<O>(shape: string, parameters: readonly unknown[], build: () => Compilable<O>): CompiledQuery<O> {
    let text = this.#sql.get(shape);
    if (text === undefined) {
      const compiled = build().compile();
      if (!sameValues(compiled.parameters, parameters)) throw new Error(`compiled query ${shape}: the parameters given are not the ones Kysely bound`);
      text = compiled.sql;
      if (this.#sql.size >= SHAPE_LIMIT) {
        // Maps iterate in insertion order: drop the oldest shape.
        const oldest = this.#sql.keys().next();
        if (oldest.done !== true) this.#sql.delete(oldest.value);
      }
      this.#sql.set(shape, text);
    }
    // The rows have the type of the query this text was compiled from.
    return CompiledQuery.raw(text, [...parameters]);
  }
}

/**
 * The parameters of a multi-row insert of `rows`, as Kysely binds them: row by row, each row's values
 * in its key order. Every row must have the same keys, in the same order, and no undefined value
 * (Kysely would leave such a column out, which changes the text).
 */
export function insertParameters(rows: readonly Record<string, unknown>[]): unknown[] {
  const keys = rows.length > 0 ? Object.keys(rows[0]!) : [];
  const out: unknown[] = [];
  for (const row of rows) {
    const rowKeys = Object.keys(row);
    if (rowKeys.length !== keys.length) throw new Error('insertParameters: rows of different shapes');
    for (let i = 0; i < keys.length; i++) {
      const value = row[keys[i]!];
      if (rowKeys[i] !== keys[i] || value === undefined) throw new Error(`insertParameters: column ${keys[i]!} is missing or undefined`);
      out.push(value);
    }
  }
  return out;
}

function sameValues(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}
