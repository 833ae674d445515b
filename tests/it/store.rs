//! A store's web servers for the feed tests: a real HTTP server on loopback (tiny_http) that
//! serves feeds and dataset photos (with ETags, answering conditional requests with 304), and
//! the failures a real image host has: 404, a slow answer, an HTML page sent as an image, a
//! redirect loop. It counts what it served.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tiny_http::{Header, Response, Server};

/// What the server answers at a path.
#[derive(Debug, Clone)]
pub enum Route {
    /// These bytes with this content type (and an ETag of their hash).
    Bytes(Vec<u8>, &'static str),
    /// A photo file (JPEG), with an ETag of its hash.
    Photo(PathBuf),
    /// The photo, after waiting this long.
    Slow(Duration, PathBuf),
    /// This error status.
    Status(u16),
    /// A redirect to this path.
    Redirect(String),
    /// These error statuses, one per request, then the photo.
    Failing(Vec<u16>, PathBuf),
}

/// One answer given: the path and the status.
pub type Served = (String, u16);

/// The running server.
pub struct Store {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    served: Arc<Mutex<Vec<Served>>>,
    server: Arc<Server>,
}

impl Store {
    /// Starts a server on a free loopback port.
    pub fn start() -> Self {
        let server = Arc::new(Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::default();
        let served: Arc<Mutex<Vec<Served>>> = Arc::default();
        let (s, r, log) = (server.clone(), routes.clone(), served.clone());
        std::thread::spawn(move || {
            for request in s.incoming_requests() {
                let (r, log) = (r.clone(), log.clone());
                // One thread per request, so a slow answer holds up no other.
                std::thread::spawn(move || answer(request, &r, &log));
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}"),
            routes,
            served,
            server,
        }
    }

    /// Serves `route` at `path`.
    pub fn route(&self, path: &str, route: Route) {
        self.routes.lock().unwrap().insert(path.to_string(), route);
    }

    /// The answers given so far.
    pub fn served(&self) -> Vec<Served> {
        self.served.lock().unwrap().clone()
    }

    /// Forgets the answers given so far.
    pub fn clear(&self) {
        self.served.lock().unwrap().clear();
    }

    /// How many answers had `status` for paths starting with `prefix`.
    pub fn count(&self, prefix: &str, status: u16) -> usize {
        self.served()
            .iter()
            .filter(|(p, s)| p.starts_with(prefix) && *s == status)
            .count()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

fn etag(bytes: &[u8]) -> String {
    format!("\"{}\"", deep_shopping::assets::sha256_hex(bytes))
}

fn answer(
    request: tiny_http::Request,
    routes: &Mutex<HashMap<String, Route>>,
    served: &Mutex<Vec<Served>>,
) {
    let path = request.url().to_string();
    let route = {
        let mut routes = routes.lock().unwrap();
        let route = routes.get(&path).cloned();
        // A failing route answers its next status, and forgets it.
        if let Some(Route::Failing(statuses, file)) = &route
            && let Some((first, rest)) = statuses.split_first()
        {
            routes.insert(path.clone(), Route::Failing(rest.to_vec(), file.clone()));
            Some(Route::Status(*first))
        } else {
            route
        }
    };
    let condition = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("If-None-Match"))
        .map(|h| h.value.as_str().to_string());
    let header = |k: &str, v: &str| Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap();
    let body = |bytes: Vec<u8>, kind: &str| {
        let tag = etag(&bytes);
        if condition.as_deref() == Some(tag.as_str()) {
            return Response::from_data(Vec::new()).with_status_code(304);
        }
        Response::from_data(bytes)
            .with_header(header("Content-Type", kind))
            .with_header(header("ETag", &tag))
    };
    let response = match route {
        None => Response::from_data(b"not found".to_vec()).with_status_code(404),
        Some(Route::Status(code)) => Response::from_data(Vec::new()).with_status_code(code),
        Some(Route::Bytes(bytes, kind)) => body(bytes, kind),
        Some(Route::Photo(file) | Route::Failing(_, file)) => {
            body(std::fs::read(file).unwrap(), "image/jpeg")
        }
        Some(Route::Slow(wait, file)) => {
            std::thread::sleep(wait);
            body(std::fs::read(file).unwrap(), "image/jpeg")
        }
        Some(Route::Redirect(to)) => Response::from_data(Vec::new())
            .with_status_code(302)
            .with_header(header("Location", &to)),
    };
    served
        .lock()
        .unwrap()
        .push((path, response.status_code().0));
    // One request per connection: a client that reuses a connection the server has dropped
    // sends the request again, which would count twice here.
    request
        .respond(response.with_header(header("Connection", "close")))
        .ok();
}
