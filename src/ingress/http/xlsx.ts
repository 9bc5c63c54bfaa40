import type ExcelJS from 'exceljs';

/**
 * ExcelJS, loaded the first time a workbook is read or written: it is a large
 * library (with its zip and stream helpers) that most processes never need,
 * and every module loaded stays in the heap for the life of the process.
 */
export async function loadExcel(): Promise<typeof ExcelJS> {
  return (await import('exceljs')).default;
}
