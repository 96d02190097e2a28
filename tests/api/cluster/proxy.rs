//! A TCP proxy in front of PostgreSQL that a test can cut and restore, to play a database outage
//! (a failover, a network partition) to servers that reach the database through it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct DbProxy {
    /// Where it listens: the same port after every restore.
    pub address: SocketAddr,
    upstream: SocketAddr,
    listener: Option<JoinHandle<()>>,
    /// The tasks piping open connections, so that a cut can drop them all.
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl DbProxy {
    /// A proxy on a free local port to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut proxy = Self {
            address: listener.local_addr().unwrap(),
            upstream,
            listener: None,
            connections: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: TcpListener) {
        let (upstream, connections) = (self.upstream, self.connections.clone());
        self.listener = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let pipe = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                let mut open = connections.lock().unwrap();
                open.retain(|task| !task.is_finished());
                open.push(pipe);
            }
        }));
    }

    /// Stops listening (new connections are refused) and drops every open connection: to the
    /// servers the database is gone.
    pub async fn cut(&mut self) {
        if let Some(listener) = self.listener.take() {
            listener.abort();
            // Awaited, so that the listening socket is closed when this returns.
            let _ = listener.await;
        }
        let open: Vec<_> = self.connections.lock().unwrap().drain(..).collect();
        for pipe in open {
            pipe.abort();
            let _ = pipe.await;
        }
    }

    /// Listens again on the same port.
    pub async fn restore(&mut self) {
        // Tokio sets SO_REUSEADDR: the port is free again at once.
        let listener = TcpListener::bind(self.address).await.unwrap();
        self.serve(listener);
    }
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        if let Some(listener) = &self.listener {
            listener.abort();
        }
        for pipe in self.connections.lock().unwrap().iter() {
            pipe.abort();
        }
    }
}
