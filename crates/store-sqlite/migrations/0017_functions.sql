-- Lambda functions: the configuration as a document, the code as an object in sluice-functions.
CREATE TABLE functions (
    name TEXT PRIMARY KEY NOT NULL,
    revision_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    modified_ms INTEGER NOT NULL
);
