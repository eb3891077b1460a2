-- Appointments booked into a calendar.
CREATE TYPE appointment_status AS ENUM ('booked', 'cancelled', 'done');

CREATE TABLE IF NOT EXISTS appointments (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    calendar_id  bigint NOT NULL REFERENCES business_calendars (id),
    starts_at    timestamptz NOT NULL,
    status       appointment_status NOT NULL DEFAULT 'booked'
);
