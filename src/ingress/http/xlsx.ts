import type ExcelJS from 'exceljs';

let loaded: typeof ExcelJS | undefined;

/**
 * ExcelJS, loaded the first time a workbook is read or written: it is a large
 * library (with its zip and stream helpers) that most processes never need,
 * and every module loaded stays in the heap for the life of the process.
 */
export async function loadExcel(): Promise<typeof ExcelJS> {
  if (!loaded) {
    loaded = (await import('exceljs')).default;
    decodeAsOneStream(loaded);
  }
  return loaded;
}

type Chunks = AsyncIterable<Buffer | string>;
interface ReaderInternals {
  _parseWorksheet(iterator: Chunks, sheetNo: string): Iterable<unknown>;
  _parseHyperlinks(iterator: Chunks, sheetNo: string): Iterable<unknown>;
  _parseSharedStrings(entry: NodeJS.ReadableStream): AsyncIterable<unknown>;
}

/**
 * ExcelJS 4.4's streaming reader decodes each chunk of a sheet's XML on its
 * own (utils/parse-sax.js), so a character whose UTF-8 bytes straddle two
 * chunks (every 16 KiB of inflated XML) reads as U+FFFD: about one Cyrillic
 * cell in 500 came out garbled (exceljs/exceljs#2084, #2316, open). The
 * reader's sheets, hyperlinks and shared strings are handed to it as text
 * decoded as one stream instead; parse-sax passes strings through as they are.
 * Patched on the prototype, so it holds whoever imported ExcelJS first.
 */
function decodeAsOneStream(excel: typeof ExcelJS): void {
  const proto = excel.stream.xlsx.WorkbookReader.prototype as unknown as ReaderInternals;
  const { _parseWorksheet: worksheet, _parseHyperlinks: hyperlinks, _parseSharedStrings: sharedStrings } = proto;
  proto._parseWorksheet = function (iterator, sheetNo) {
    return worksheet.call(this, decoded(iterator), sheetNo);
  };
  proto._parseHyperlinks = function (iterator, sheetNo) {
    return hyperlinks.call(this, decoded(iterator), sheetNo);
  };
  proto._parseSharedStrings = function (entry) {
    entry.setEncoding('utf8');
    return sharedStrings.call(this, entry);
  };
}

async function* decoded(chunks: Chunks): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  for await (const chunk of chunks) {
    const text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    if (text !== '') yield text;
  }
  const rest = decoder.decode();
  if (rest !== '') yield rest;
}
