/* Every limit of the statement parsers, named, in one place.
 *
 * These are the defaults recon_limits_default() hands out; a caller may
 * lower (or, knowingly, raise) them per parse through struct recon_limits.
 * Every loop over a bank file is bounded by one of them. */
#ifndef RECON_LIMITS_H
#define RECON_LIMITS_H

/* Input as a whole. A file is streamed and never held in memory whole; a
 * buffer is parsed where it lies. 4 GiB is far above a daily statement. */
#define RECON_INPUT_BYTES_MAX (4ULL * 1024 * 1024 * 1024)

/* One physical line of MT940 or CSV text, without its line break. SWIFT
 * allows 65 characters; real exports and CSV rows run longer. */
#define RECON_LINE_BYTES_MAX 8192

/* One field: an XML element's text, a CSV field, an MT940 tag's content
 * including its continuation lines (a :86: is at most 6 x 65 by the
 * standard). */
#define RECON_FIELD_BYTES_MAX 4096

/* Nesting of XML elements. camt.053's deepest path is about 15. */
#define RECON_ELEMENT_DEPTH_MAX 48

/* Lines of one statement. One case may pay out to 35,000 victims in a day;
 * a province's daily receipts stay well below this. */
#define RECON_LINES_PER_STATEMENT_MAX 200000

/* Lines of all statements of one file: bounds the memory of a parse
 * (roughly 400 bytes a line). */
#define RECON_LINES_PER_FILE_MAX 1000000

/* A streamed parse (recon_parse_stream) holds one chunk of lines at a
 * time, so its line counts are bounded for time, not memory: 20 million
 * lines is a year of a large court's receipts in one file. */
#define RECON_STREAM_LINES_PER_STATEMENT_MAX 20000000
#define RECON_STREAM_LINES_PER_FILE_MAX 20000000
/* Lines handed to a sink at a time. */
#define RECON_STREAM_CHUNK_LINES 8192

/* Statements of one file (a month of daily MT940 statements is 31). */
#define RECON_STATEMENTS_PER_FILE_MAX 10000

/* A CSV column mapping file, and the columns of a CSV row. */
#define RECON_MAPPING_BYTES_MAX 16384
#define RECON_CSV_COLUMNS_MAX 256
/* Header or data lines a mapping may skip before the header row. */
#define RECON_CSV_SKIP_LINES_MAX 100

/* Sizes of the text parts of struct recon_error, NUL included. */
#define RECON_ERROR_PATH_SIZE 256
#define RECON_ERROR_MESSAGE_SIZE 256

#endif
