//! The browser side, two bundles of one crate. The page's (`deep-shopping-page`, feature
//! `page`, no burn) builds the `<deep-shopping-search>` widget, loads the model's files and
//! the catalogue, exposes `window.deepShopping`, ranks and drives the widget. The model's
//! (`deep-shopping`, feature `model`) describes photos: in a worker the page starts, or on
//! the page's thread.
//!
//! Who uses whom, one way: `session` (the shopper's state, the library only) <- `app` (the
//! loaded model, engine and session) <- `api` (the JS API) and `controls` (the widget's
//! controls) <- `entry` (the entry point, wired before loading) <- `page` (the start);
//! `view` renders what the session publishes; `engine` talks to the model's bundle (in a
//! worker through `client`, or on the page) in `protocol`'s messages, which `host` answers with `backend`'s device; `widget`, `camera`,
//! `crop`, `fetch` and `js` are leaves; `remote` reads a partitioned catalogue for `app`; `results` is `session`'s plain data.

#[cfg(feature = "page")]
mod api;
#[cfg(feature = "page")]
mod app;
#[cfg(feature = "model")]
mod backend;
#[cfg(feature = "page")]
mod camera;
#[cfg(feature = "page")]
mod client;
#[cfg(feature = "page")]
mod controls;
#[cfg(feature = "page")]
mod crop;
#[cfg(feature = "page")]
mod engine;
#[cfg(feature = "page")]
mod entry;
#[cfg(feature = "page")]
mod fetch;
#[cfg(feature = "model")]
pub mod host;
mod js;
#[cfg(feature = "page")]
pub mod page;
mod protocol;
#[cfg(feature = "page")]
mod remote;
#[cfg(feature = "page")]
mod results;
#[cfg(feature = "page")]
mod session;
#[cfg(feature = "page")]
mod view;
#[cfg(feature = "page")]
mod widget;
