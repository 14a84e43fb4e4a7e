-- A token's scope and lifetime: the Team its role is limited to (NULL: platform-wide) and the
-- time it stops being accepted (NULL: never).
ALTER TABLE admin_tokens ADD COLUMN team TEXT;
ALTER TABLE admin_tokens ADD COLUMN expires_at TIMESTAMPTZ;
