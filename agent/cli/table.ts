/** Plain aligned columns for terminal output; numbers align right. */
export function renderTable(
  headers: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): string {
  const cells = rows.map((row) => row.map(String));
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...cells.map((row) => row[i]?.length ?? 0)),
  );
  const numeric = headers.map((_, i) =>
    rows.every((row) => typeof row[i] === 'number'),
  );
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) =>
        numeric[i]
          ? cell.padStart(widths[i] ?? 0)
          : cell.padEnd(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}
