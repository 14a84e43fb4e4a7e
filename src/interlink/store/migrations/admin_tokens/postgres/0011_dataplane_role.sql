-- The dataplane role: tokens of data-plane nodes, which read revisions and report their status.
ALTER TABLE admin_tokens DROP CONSTRAINT IF EXISTS admin_tokens_role_check;
ALTER TABLE admin_tokens ADD CONSTRAINT admin_tokens_role_check
    CHECK (role IN ('viewer', 'operator', 'admin', 'dataplane'));
