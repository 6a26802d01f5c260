-- The client token a third-party job is bound to by its first third-party call.
ALTER TABLE jobs ADD COLUMN client_token TEXT;
