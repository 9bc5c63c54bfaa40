import Papa from 'papaparse';

/** Header names of the column that holds the numbers (lower case). */
const NUMBER_HEADERS = ['phone', 'number', 'to', 'msisdn', 'mobile', 'recipient', 'телефон', 'номер', 'получатель'];
const LOOKS_LIKE_NUMBER = /^\+?[\d\s()-]{5,20}$/;

/**
 * The numbers in an uploaded CSV or XLSX file: the column whose header is
 * phone/number/to (or Russian), else the first column whose cells look like
 * numbers. The server checks each number when sending, as for pasted ones.
 */
export async function numbersFromFile(file: File): Promise<string[]> {
  const rows = /\.xlsx$/i.test(file.name) ? await xlsxRows(file) : csvRows(await file.text());
  if (rows.length === 0) return [];
  const header = rows[0]!.map((c) => c.trim().toLowerCase());
  let column = header.findIndex((h) => NUMBER_HEADERS.includes(h));
  let body = rows;
  if (column >= 0) body = rows.slice(1);
  else column = Math.max(0, rows[0]!.findIndex((c) => LOOKS_LIKE_NUMBER.test(c.trim())));
  return body.map((r) => (r[column] ?? '').trim()).filter((n) => n.length > 0);
}

function csvRows(text: string): string[][] {
  const parsed = Papa.parse<string[]>(text.replace(/^\uFEFF/, ''), { skipEmptyLines: true, delimitersToGuess: [',', ';', '\t'] });
  return parsed.data;
}

async function xlsxRows(file: File): Promise<string[][]> {
  // Loaded only when an XLSX file is chosen: the library is large.
  const { default: ExcelJS } = await import('exceljs');
  const book = new ExcelJS.Workbook();
  await book.xlsx.load(await file.arrayBuffer());
  const sheet = book.worksheets[0];
  if (!sheet) return [];
  const rows: string[][] = [];
  sheet.eachRow((row) => {
    const cells: string[] = [];
    row.eachCell({ includeEmpty: true }, (cell, col) => {
      cells[col - 1] = cell.text ?? '';
    });
    rows.push(Array.from(cells, (c) => c ?? ''));
  });
  return rows;
}
