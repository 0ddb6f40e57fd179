"""Statements a reader must never get answered, whichever door they come through: the API, the
client or ``trellis query --db`` on a file, the dashboard's file mode, reports on a file.

Each with a fragment of the reason the guard gives."""

HOSTILE = {
    "serialized SQL run as a table": (
        "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 42'))",
        "json_execute_serialized_sql() is not allowed",
    ),
    "text run as SQL": ("SELECT * FROM query('SELECT 42')", "query() is not allowed"),
    "a table named in text": ("SELECT * FROM query_table('deployments')", "query_table() is not allowed"),
    "the host's files listed": ("SELECT * FROM glob('/etc/*')", "glob() is not allowed"),
    "a file read as text": ("SELECT * FROM read_text('/etc/hostname')", "read_text() is not allowed"),
    "a file read as bytes": ("SELECT * FROM read_blob('/etc/hostname')", "read_blob() is not allowed"),
    "a file read as CSV": ("SELECT * FROM read_csv('/etc/passwd')", "read_csv() is not allowed"),
    "a file sniffed": ("SELECT * FROM sniff_csv('/etc/passwd')", "sniff_csv() is not allowed"),
    "a file named as a table": ("SELECT * FROM '/etc/passwd'", "names a file"),
    "a file in a subquery": (
        "SELECT (SELECT count(*) FROM read_parquet('x.parquet'))",
        "read_parquet() is not allowed",
    ),
    "a setting revealed": ("SELECT current_setting('temp_directory')", "current_setting() is not allowed"),
    "a variable read": ("SELECT getvariable('anything')", "getvariable() is not allowed"),
    "the database paths": ("SELECT * FROM duckdb_databases()", "duckdb_databases() is not allowed"),
    "every setting": ("SELECT * FROM duckdb_settings()", "duckdb_settings() is not allowed"),
    "the extensions": ("SELECT * FROM duckdb_extensions()", "duckdb_extensions() is not allowed"),
    "the secrets": ("SELECT * FROM duckdb_secrets()", "duckdb_secrets() is not allowed"),
    "the database list": ("SELECT * FROM pragma_database_list()", "pragma_database_list() is not allowed"),
    "a setting read in a table function's argument": (
        "SELECT * FROM range(length(current_setting('temp_directory')))",
        "current_setting() is not allowed",
    ),
    "a gigabyte built in one vector": (
        "SELECT repeat('x', 1000000) AS s FROM range(1000)",
        "repeat(): count 1,000,000 is more than the 16,384 one value may hold",
    ),
    "a width taken from a column": (
        "SELECT lpad('x', i::INT) FROM range(3) t(i)",
        "lpad(): the length must be a number",
    ),
    "a width taken from an argument": ("SELECT printf('%*d', 100000000, 1)", "printf(): widths must be written"),
    "a list of a billion elements": ("SELECT range(1000000000)", "range() would build a list of 1,000,000,000"),
    "a list resized": ("SELECT list_resize([1], 100000000)", "list_resize(): size 100,000,000 is more than"),
    "a read value repeated": (
        "SELECT repeat(table_name, 1000) FROM duckdb_tables()",
        "repeat(): at most 64 copies of a value read from a table",
    ),
    "sized calls concatenated": (
        "SELECT " + " || ".join(["repeat('x', 16000)"] * 200) + " AS s FROM range(2000)",
        "the sized calls of this query (repeat()) would build 3,200,000 characters or elements per row",
    ),
    "a second statement": ("SELECT 1; ATTACH '/tmp/other.duckdb'", "exactly one statement"),
    "an attach": ("ATTACH '/tmp/other.duckdb' AS other", "ATTACH statements are not allowed"),
    "a copy out": ("COPY (SELECT 1) TO '/tmp/out.csv'", "COPY statements are not allowed"),
    "a setting changed": ("SET enable_external_access = true", "SET statements are not allowed"),
    "an extension loaded": ("LOAD httpfs", "INSTALL/LOAD statements are not allowed"),
}
