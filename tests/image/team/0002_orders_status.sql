-- 0002_orders_status: the team's second migration.
ALTER TABLE orders ADD COLUMN status text;
