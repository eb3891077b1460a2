-- Calendars a business books appointments into.
CREATE TABLE IF NOT EXISTS business_calendars (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    business_id  bigint NOT NULL REFERENCES businesses (id),
    name         text NOT NULL,
    priority     integer NOT NULL DEFAULT 0,
    is_active    boolean NOT NULL DEFAULT true
);
