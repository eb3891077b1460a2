-- Calls handled for a business.
CREATE TABLE IF NOT EXISTS call_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    business_id  bigint NOT NULL REFERENCES businesses (id),
    caller       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
