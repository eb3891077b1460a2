-- 0001_create_orders: a team's own first migration (tests/image/run.sh
-- copies this directory into a team image built FROM the toolkit stage).
CREATE TABLE orders (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	customer_id bigint NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);
