-- Placeholder on branch kits only: 0010 belongs to another branch (locations). Drop this file at
-- merge; the loader wants migrations numbered 1..n.
SELECT 1;
