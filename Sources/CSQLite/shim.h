#include <sqlite3.h>

/* SQLITE_TRANSIENT and SQLITE_STATIC are cast macros that Swift cannot import;
   these inline wrappers hand them over as ordinary destructor values. */
static inline sqlite3_destructor_type lanner_sqlite_transient(void) { return SQLITE_TRANSIENT; }
static inline sqlite3_destructor_type lanner_sqlite_static(void) { return SQLITE_STATIC; }
