-- The Management API's /logs: searches by user and by client, and retention by age.
CREATE INDEX audit_events_by_user ON audit_events(user_id, id);
CREATE INDEX audit_events_by_client ON audit_events(client_id, id);
CREATE INDEX audit_events_by_at ON audit_events(at);
