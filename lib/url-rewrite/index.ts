/** The URL rewriter for site migrations: pure, byte-level, PHP-serialization aware. See docs/url-rewrite.md. */
export { compileNeedles, type Needle, type NeedleSet, type UrlRewriteOptions } from './needles';
export { isSerialized, looksSerialized, rewriteSerialized, MAX_DEPTH } from './serialized';
export { UrlRewriter, type ValueKind, type ValueRewrite } from './rewrite-value';
export {
  TableRewriter,
  type ColumnCounts,
  type ColumnLimit,
  type ColumnValue,
  type RowChange,
  type TableRewriteOptions,
  type TableRewriteReport,
  type TableShape,
} from './table';
