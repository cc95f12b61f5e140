-- user_action v2 adds the optional field app_version.
ALTER TABLE user_actions ADD COLUMN app_version text;
