//! The ONE integration-test binary of tessera-server (DESIGN "Testing"): a real server on
//! port 0 per test (or the real `tessera` binary), driven from outside. One module per
//! feature; shared helpers in `support` (stores, `TestApp`, CLI runner) and the fixture
//! modules. Add new features as new `mod` lines.
//!
//! PostgreSQL variants run when `TESSERA_TEST_POSTGRES_URL` is set (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`); SQLite variants always run.

mod authorize;
mod authorize_implicit;
mod authorize_session;
mod browser;
mod browser_dbconnections;
mod browser_par_device;
mod cli;
mod client_auth_properties;
mod client_metadata;
mod connections;
mod cors;
mod dbconnections;
mod device;
mod dpop_proof;
mod dpop_token;
mod email_outbox;
mod faults_bounded;
mod faults_clock;
mod faults_cluster;
mod faults_connections;
mod faults_crash;
mod faults_failover;
mod faults_failover_formation;
mod faults_keys;
mod faults_login;
mod faults_notify;
mod faults_postgres;
mod faults_redeem;
mod faults_shutdown;
mod faults_sqlite;
mod faults_support;
mod fetch;
mod grant_authorization_code;
mod grant_client_credentials;
mod grant_jwt_bearer;
mod grant_password;
mod grant_refresh_token;
mod grant_token_exchange;
mod login;
mod logout;
mod management;
mod management_credentials;
mod management_jobs;
mod model_protocol;
mod oauth_fixture;
mod par;
mod passwordless;
mod registration;
mod resource_indicators;
mod revocation;
mod sdk_authlib;
mod sdk_client_credentials;
mod sdk_dbconnections;
mod sdk_express;
mod sdk_management;
mod sdk_management_jobs;
mod sdk_mcp;
mod sdk_password_realm;
mod spa_js;
mod startup;
mod store_contract;
mod store_contract_credentials;
mod store_contract_email;
mod store_contract_housekeeping;
mod store_contract_issuers;
mod store_contract_jobs;
mod store_contract_par_device;
mod store_contract_protocol;
mod store_contract_registration;
mod support;
mod support_docs;
mod support_live;
mod support_prop;
mod support_sdk;
mod support_smtp;
mod support_web;
mod tls;
mod userinfo;
mod web_message;
mod well_known;
