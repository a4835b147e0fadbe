#include <zstd.h>

/* ZSTD_CONTENTSIZE_* are function-like expressions Swift does not import. */
static const unsigned long long ZSTD_CONTENTSIZE_UNKNOWN_VALUE = ZSTD_CONTENTSIZE_UNKNOWN;
static const unsigned long long ZSTD_CONTENTSIZE_ERROR_VALUE = ZSTD_CONTENTSIZE_ERROR;
