-- Prefect's own database beside sopflow's, on the same server.
CREATE DATABASE prefect OWNER sopflow;
