-- The same databases and schemas as the local twin (scripts/twin/postgres.py) and Cloud SQL:
-- `taxi` (schemas ny_taxi and mage, the pipelines' tables) and `mage` (Mage's own metadata).
CREATE SCHEMA IF NOT EXISTS ny_taxi AUTHORIZATION taxi;
CREATE SCHEMA IF NOT EXISTS mage AUTHORIZATION taxi;
CREATE DATABASE mage OWNER taxi;
