/**
 * HTML reports: charts rendered to SVG on the server (Vega-Lite + Vega), one self-contained
 * file per report. Build a ReportDocument (evaluationReport, sweepReport, classifiedReport, or
 * your own sections), render it with renderReport, write it with writeReport.
 */
export { renderReport, renderTable, renderKeyValue, renderChart, escapeHtml } from './html.js';
export type { CellValue, KeyValue, RenderOptions, ReportBlock, ReportDocument, ReportSection, TableColumn, TableData } from './html.js';
export { scatterChart, confusionChart, classScoresChart, sweepChart, noveltyChart, decades, siNumber, classColour, sameConfig, CLASS_COLOURS } from './charts.js';
export type { Chart, ScatterData, ScatterPoint, ConfusionData, ClassScoresData, SweepRow, SweepChoice, NoveltyData } from './charts.js';
export { evaluationReport, evaluationSections, evaluationData, evaluationDataFromJson, classificationTable, scatterPoints, metadataEntries, formatDuration } from './builders.js';
export type { EvaluationData, EvaluationJson, EvaluationReportInput, RunMetadata } from './builders.js';
export { sweepReport, sweepSections, rankSweep, sweepRowsFrom } from './sweep.js';
export type { NestedEstimate, SweepReportOptions, SweepResultLike } from './sweep.js';
export { classifiedReport, classifiedSections, runs } from './classified.js';
export type { ClassifiedReportInput, ClassifiedRow } from './classified.js';
export { predictionsFromTable, readEvaluationJson, readPredictions, readSweepRows } from './inputs.js';
export type { PredictionsFile, SweepFile } from './inputs.js';
export { writeReport } from './write.js';
