-- +goose Up
-- Sign-in guesses are counted per login and client address ('login_ip', the
-- one that refuses), per address ('ip') and per login from anywhere
-- ('login', which only asks for a captcha): an attacker elsewhere can no
-- longer lock the owner out.
ALTER TABLE sign_in_attempts DROP CONSTRAINT sign_in_attempts_scope_check;
ALTER TABLE sign_in_attempts ADD CONSTRAINT sign_in_attempts_scope_check
    CHECK (scope IN ('login', 'ip', 'code', 'login_ip'));

-- A pending Idempotency-Key is a short lease held by one claim: the claim id
-- fences the holder (its command's transaction marks the key committed only
-- if it still holds the claim), so a lease reclaimed after a crash can never
-- let the dead holder's request apply too.
ALTER TABLE idempotency_keys ADD COLUMN claim uuid;

-- +goose Down
ALTER TABLE idempotency_keys DROP COLUMN claim;
DELETE FROM sign_in_attempts WHERE scope = 'login_ip';
ALTER TABLE sign_in_attempts DROP CONSTRAINT sign_in_attempts_scope_check;
ALTER TABLE sign_in_attempts ADD CONSTRAINT sign_in_attempts_scope_check
    CHECK (scope IN ('login', 'ip', 'code'));
