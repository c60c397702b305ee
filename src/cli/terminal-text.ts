/**
 * Text from the database shown in a terminal. Audit records, key comments and user names can hold
 * whatever a caller sent (an SSH user name, a login form's "user" field), and a terminal obeys escape
 * sequences: ESC [2J clears the screen, OSC 52 writes the clipboard, a newline forges a whole audit
 * line (CWE-150, CWE-117). So every cell of a text table is escaped: C0 and C1 controls, DEL, Unicode
 * line and paragraph separators and bidirectional overrides (CVE-2021-42574) become visible `\xNN` /
 * `\u{NNNN}` escapes, and a backslash is doubled so that an escape can never be faked. JSON output
 * needs none of this: JSON.stringify escapes control characters itself.
 */

// C0 controls, DEL, C1 controls, the line/paragraph separators and the bidi embedding/override/isolate marks.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\\\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** The text with every character a terminal could act on replaced by a visible escape. */
export function escapeForTerminal(text: string): string {
  return text.replace(UNSAFE, (ch) => {
    const named = NAMED[ch];
    if (named !== undefined) return named;
    const code = ch.codePointAt(0)!;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}
