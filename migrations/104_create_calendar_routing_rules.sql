-- Which calendar a call is routed to.
CREATE TABLE IF NOT EXISTS calendar_routing_rules (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    business_id  bigint NOT NULL REFERENCES businesses (id),
    calendar_id  bigint NOT NULL REFERENCES business_calendars (id),
    pattern      text NOT NULL,
    is_active    boolean NOT NULL DEFAULT true
);
