-- Placeholder on branch locations only: this number belongs to another branch (kits, speed). Drop
-- this file at merge; the loader wants migrations numbered 1..n.
SELECT 1;
