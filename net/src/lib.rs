//! The host for real networks: any faultline protocol, unchanged, as a process on
//! real sockets with a real disk.
//!
//! A node is one task. The protocol is the same sans-IO state machine the simulator
//! runs; here its effects are carried out for real: a send is a UDP datagram to the
//! peer's address, sent after the scenario's latency for the link (drawn as the
//! simulator draws it, in the link's FIFO order; loss and duplication too), a timer
//! is a deadline on the runtime's clock, a write goes to the node's own file and a
//! sync is an `fsync` (so a `kill -9` loses exactly what the simulator's crash
//! loses), and notes and observations go to the node's own trace file, in the
//! simulator's trace format, for the collector to merge and judge.
//!
//! The runtime calls go through madsim: built normally, madsim is tokio and the
//! sockets are the kernel's; built with `--cfg madsim` (in a target directory of its
//! own), the same host runs inside madsim's deterministic simulator. Datagrams, not
//! madsim's TCP `Endpoint`: the protocols are written for a network that loses and
//! reorders, and madsim 0.2.34's std-mode `Endpoint` unwraps a refused connection,
//! which a killed peer produces on every send.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use faultline_sim::disk::Durable;
use faultline_sim::network::sample;
use faultline_sim::protocol::{Ctx, Effect, NodeId, Protocol, Reply, Request, TimerId};
use faultline_sim::rng::{SimRng, Stream};
use faultline_sim::scenario::Latency;
use faultline_sim::time::Ppm;
use faultline_sim::trace::{Event, NodeIdName, Trace};
use faultline_sim::wire;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub mod driver;

/// The datagram socket: the kernel's (through tokio), or madsim's simulated one.
#[cfg(madsim)]
pub use madsim::net::UdpSocket;
/// The datagram socket: the kernel's (through tokio), or madsim's simulated one.
#[cfg(not(madsim))]
pub use tokio::net::UdpSocket;

/// The largest datagram a node sends or reads: a message that does not fit is not
/// sent (and the node's trace says so), as a network drops what it cannot carry.
pub const DATAGRAM_BYTES_MAX: usize = 65_000;

/// What travels between processes.
#[derive(Debug, Serialize, Deserialize)]
pub enum Wire<M> {
    /// A protocol message from node `from` (its index: n1 is 0).
    Peer {
        /// The sender's index.
        from: usize,
        /// The message.
        msg: M,
    },
    /// A client's request to a node.
    Request(Request),
    /// A node's answer to a client.
    Reply(Reply),
    /// From the cluster's driver: which links of this node are cut. `out[j]`: what
    /// this node sends to node j is lost; `into[j]`: what j sends it is lost. The
    /// driver sends it on every change and again every 100 ms (a restarted node, or
    /// a lost datagram, hears it soon).
    Cuts {
        /// Links from this node that are cut.
        out: Vec<bool>,
        /// Links to this node that are cut.
        into: Vec<bool>,
    },
    /// From the driver: the membership changed (a join or a leave), as a
    /// configuration service announces it. Sent on every change and again every
    /// 100 ms; a node acts on a view newer than its own.
    Membership {
        /// The members, in node order (n1 is 0).
        members: Vec<usize>,
        /// The view's number.
        view: u64,
    },
    /// To the driver: node `node` leads in `term` ([`Protocol::leads`]), or not.
    /// Sent when it changes, and after every [`Wire::Cuts`]: a fault aimed at "the
    /// leader" needs to know who that is.
    Leads {
        /// The node.
        node: usize,
        /// The term it leads, if it does.
        term: Option<u64>,
    },
}

/// Who a node is and where everything is.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// This node's index (n1 is 0).
    pub id: usize,
    /// Every node's address, by index; this node binds its own.
    pub peers: Vec<SocketAddr>,
    /// The node's own folder: its disk file and its trace.
    pub dir: PathBuf,
    /// Seeds the node's random stream, as the simulator does.
    pub seed: u64,
    /// The cluster's time zero, in nanoseconds since the Unix epoch: every node's
    /// trace and the clients' history count from it, so they merge on one axis.
    pub epoch_ns: u64,
    /// The network's faults, injected by the sender: the chance a message to a peer
    /// is lost, and that it is sent twice; and the chance an answer to a client is lost.
    pub faults: LinkFaults,
    /// The membership when the node starts (`Ctx::members`); the driver announces
    /// changes with [`Wire::Membership`].
    pub members: Vec<NodeId>,
    /// The membership view's number.
    pub view: u64,
}

/// What a node's links do to what it sends, as the scenario's `[network]` says: the
/// sender injects it, so the same node process carries out the same network whether
/// its peers are on this machine or another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkFaults {
    /// A message to a peer is lost (parts per million).
    pub loss: Ppm,
    /// A message to a peer is sent twice (parts per million).
    pub duplicate: Ppm,
    /// An answer to a client is lost (parts per million).
    pub client_loss: Ppm,
    /// How long a message from node `i` to node `j` is held before it is sent:
    /// `latency[i * n + j]`, drawn from the link's distribution as the simulator
    /// draws it, and held in the link's FIFO order (a message is never sent before
    /// one sent earlier on the same link). The real network's own time comes on top.
    /// What a node holds dies with it: a `kill -9` loses the messages it had sent
    /// but not yet released, which the simulator would still deliver (a loss, which
    /// the protocols tolerate).
    pub latency: Vec<Latency>,
    /// The same for a client's link, both ways: a request is held on arrival, an
    /// answer before it is sent.
    pub client_latency: Latency,
}

impl LinkFaults {
    /// The loss, duplication and latency of a scenario's `[network]`: one loss and
    /// duplication rate on every peer link (`faultline cluster` refuses per-link
    /// rates), and each link's own latency.
    pub fn of(s: &faultline_sim::Scenario) -> LinkFaults {
        let peer = if s.nodes > 1 { s.network.links[1] } else { s.network.client_link };
        LinkFaults {
            loss: peer.loss,
            duplicate: peer.duplicate,
            client_loss: s.network.client_link.loss,
            latency: s.network.links.iter().map(|l| l.latency).collect(),
            client_latency: s.network.client_link.latency,
        }
    }

    fn peer_latency(&self, from: usize, to: usize, n: usize) -> Latency {
        self.latency.get(from * n + to).copied().unwrap_or(Latency::Constant(0))
    }
}

/// Nanoseconds since `epoch_ns` on the wall clock (0 before it).
#[allow(clippy::disallowed_methods)] // a real network's time is the wall clock's
pub fn since(epoch_ns: u64) -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    u64::try_from(now).unwrap_or(u64::MAX).saturating_sub(epoch_ns)
}

/// The wall clock now, in nanoseconds since the Unix epoch.
pub fn now_ns() -> u64 {
    since(0)
}

/// A node's durable state: a map in one file, replaced atomically on every sync.
pub struct DiskFile<S> {
    path: PathBuf,
    durable: Durable<S>,
    pending: Vec<(String, Option<S>)>,
}

impl<S: Clone + Serialize + DeserializeOwned> DiskFile<S> {
    /// Opens `dir/disk.json`, or an empty disk when there is none yet.
    pub fn open(dir: &Path) -> io::Result<DiskFile<S>> {
        let path = dir.join("disk.json");
        let durable = match std::fs::read(&path) {
            Ok(bytes) => wire::decode(&bytes).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!("{}: not a node's disk: {e}", path.display()))
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Durable::new(),
            Err(e) => return Err(e),
        };
        Ok(DiskFile { path, durable, pending: Vec::new() })
    }

    /// What survived the last crash.
    pub fn durable(&self) -> &Durable<S> {
        &self.durable
    }

    /// A write that a crash loses until the next sync.
    pub fn write(&mut self, key: String, value: Option<S>) {
        self.pending.push((key, value));
    }

    /// Makes every write so far durable: a new file, fsynced, renamed over the old
    /// one, and the folder fsynced, so a crash leaves the old map or the new one.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        for (key, value) in self.pending.drain(..) {
            match value {
                Some(v) => self.durable.insert(key, v),
                None => self.durable.remove(&key),
            };
        }
        let bytes = wire::encode(&self.durable).map_err(io::Error::other)?;
        let tmp = self.path.with_extension("json.tmp");
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

/// One node: the protocol and everything its effects touch.
struct Node<P: Protocol> {
    spec: NodeSpec,
    config: P::Config,
    protocol: Option<P>,
    rng: SimRng,
    next_timer: u64,
    /// Live timers by deadline (node time), then id.
    timers: BTreeMap<(u64, TimerId), P::Timer>,
    deadlines: BTreeMap<TimerId, u64>,
    disk: DiskFile<P::Stored>,
    trace: Trace,
    /// Where each client's last request came from: its answer goes there.
    clients: BTreeMap<usize, SocketAddr>,
    outbox: Vec<(SocketAddr, Vec<u8>)>,
    /// What the scenario's latency holds back.
    delay: DelayLine,
    /// Cut links, as the driver last said (see [`Wire::Cuts`]).
    cut_out: Vec<bool>,
    cut_into: Vec<bool>,
    /// Where the driver's messages come from, and what it was last told of leadership.
    driver: Option<SocketAddr>,
    told_leads: Option<Option<u64>>,
}

impl<P: Protocol> Node<P>
where
    P::Msg: DeserializeOwned,
    P::Stored: DeserializeOwned,
{
    fn open(config: P::Config, spec: NodeSpec) -> io::Result<Node<P>> {
        std::fs::create_dir_all(&spec.dir)?;
        let disk = DiskFile::open(&spec.dir)?;
        // Appended to: a restarted node adds to what its earlier incarnation wrote.
        let file = std::fs::OpenOptions::new().create(true).append(true).open(spec.dir.join("trace.jsonl"))?;
        let trace = Trace::to_writer(Box::new(LineWriter(file)));
        // A restarted process draws a fresh stream: mix in when it started.
        let rng = SimRng::new(spec.seed ^ now_ns().rotate_left(17), Stream::Node(spec.id));
        let n = spec.peers.len();
        Ok(Node {
            cut_out: vec![false; n],
            cut_into: vec![false; n],
            driver: None,
            told_leads: None,
            spec,
            config,
            protocol: None,
            rng,
            next_timer: 0,
            timers: BTreeMap::new(),
            deadlines: BTreeMap::new(),
            disk,
            trace,
            clients: BTreeMap::new(),
            outbox: Vec::new(),
            delay: DelayLine::default(),
        })
    }

    fn now(&self) -> u64 {
        since(self.spec.epoch_ns)
    }

    /// Calls the protocol with a fresh context and carries out what it asked.
    fn step(&mut self, f: impl FnOnce(&mut Ctx<'_, P>, &mut Option<P>, &P::Config)) -> io::Result<()> {
        let now = self.now();
        let mut effects = Vec::new();
        {
            let mut ctx = Ctx::hosted(
                NodeId(self.spec.id),
                self.spec.peers.len(),
                now,
                &mut self.rng,
                &mut effects,
                &mut self.next_timer,
                &self.spec.members,
                self.spec.view,
            );
            f(&mut ctx, &mut self.protocol, &self.config);
        }
        for effect in effects {
            self.apply(now, effect)?;
        }
        Ok(())
    }

    fn apply(&mut self, now: u64, effect: Effect<P>) -> io::Result<()> {
        let me = NodeIdName(NodeId(self.spec.id));
        match effect {
            Effect::Send { to, msg } => {
                // A cut is looked at when the message leaves (see `hold`), as the
                // simulator looks at it when a message arrives: what was sent before
                // a partition and is still held is lost to it, and what was sent just
                // before a heal gets through.
                if let Some(&addr) = self.spec.peers.get(to.0)
                    && !self.rng.chance(self.spec.faults.loss)
                    && let Some(bytes) = self.encode(&Wire::Peer { from: self.spec.id, msg }, now)
                {
                    let latency = self.spec.faults.peer_latency(self.spec.id, to.0, self.spec.peers.len());
                    // As the simulator: the copy is drawn after the message, and
                    // takes its own time, outside the link's FIFO order.
                    let at = self.release_at(now, latency, Some(Link::Peer(to.0)));
                    if self.rng.chance(self.spec.faults.duplicate) {
                        let copy_at = self.release_at(now, latency, None);
                        self.hold(now, copy_at, Held::Out { to: addr, peer: Some(to.0), bytes: bytes.clone() })?;
                    }
                    self.hold(now, at, Held::Out { to: addr, peer: Some(to.0), bytes })?;
                }
            }
            Effect::SetTimer { id, after, timer } => {
                let at = now.saturating_add(after.nanos());
                self.timers.insert((at, id), timer);
                self.deadlines.insert(id, at);
            }
            Effect::CancelTimer { id } => {
                if let Some(at) = self.deadlines.remove(&id) {
                    self.timers.remove(&(at, id));
                }
            }
            Effect::Reply(reply) => {
                let lost = self.rng.chance(self.spec.faults.client_loss);
                let client = reply.client;
                if let Some(&addr) = self.clients.get(&client)
                    && !lost
                    && let Some(bytes) = self.encode(&Wire::<P::Msg>::Reply(reply), now)
                {
                    let at = self.release_at(now, self.spec.faults.client_latency, Some(Link::ToClient(client)));
                    self.hold(now, at, Held::Out { to: addr, peer: None, bytes })?;
                }
            }
            Effect::Write { key, value } => self.disk.write(key, value),
            Effect::Sync => self.disk.sync()?,
            Effect::Note(text) => self.trace.emit::<(), ()>(now, || Event::Note { node: me, text: text.as_str() }),
            Effect::Observe(obs) => self.trace.emit::<(), ()>(now, || Event::Observe { node: me, obs: &*obs }),
        }
        Ok(())
    }

    /// The datagram for `wire`, or `None` (and a note in the trace) if it cannot be sent.
    fn encode(&mut self, wire: &Wire<P::Msg>, now: u64) -> Option<Vec<u8>> {
        let text = match wire::encode(wire) {
            Ok(bytes) if bytes.len() <= DATAGRAM_BYTES_MAX => return Some(bytes),
            Ok(bytes) => format!("not sent: a message of {} bytes is over the datagram limit", bytes.len()),
            Err(e) => format!("not sent: {e}"),
        };
        let node = NodeIdName(NodeId(self.spec.id));
        self.trace.emit::<(), ()>(now, || Event::Note { node, text: text.as_str() });
        None
    }

    fn release_at(&mut self, now: u64, latency: Latency, link: Option<Link>) -> u64 {
        self.delay.release_at(now, latency, link, &mut self.rng)
    }

    /// Carries out `what` at `at`: now if it is due, else when [`Node::fire_due`] finds it due.
    fn hold(&mut self, now: u64, at: u64, what: Held) -> io::Result<()> {
        if at > now {
            self.delay.push(at, what);
            return Ok(());
        }
        match what {
            Held::Out { peer: Some(j), .. } if self.cut_out.get(j).copied().unwrap_or(true) => {} // cut: lost
            Held::Out { to, bytes, .. } => self.outbox.push((to, bytes)),
            Held::In(request) => {
                self.step(|ctx, p, _| p.as_mut().expect("started").on_request(ctx, request))?;
            }
        }
        Ok(())
    }

    fn start(&mut self) -> io::Result<()> {
        let durable = self.disk.durable().clone();
        self.step(|ctx, p, config| *p = Some(P::start(ctx, config, &durable)))
    }

    fn on_datagram(&mut self, bytes: &[u8], from: SocketAddr) -> io::Result<()> {
        // Anything that does not decode is dropped, as a network drops garbage.
        let Ok(wire) = wire::decode::<Wire<P::Msg>>(bytes) else { return Ok(()) };
        match wire {
            Wire::Peer { from: peer, msg } if peer < self.spec.peers.len() && !self.cut_into[peer] => {
                self.step(|ctx, p, _| p.as_mut().expect("started").on_message(ctx, NodeId(peer), msg))
            }
            Wire::Cuts { out, into } if out.len() == self.cut_out.len() && into.len() == self.cut_into.len() => {
                self.cut_out = out;
                self.cut_into = into;
                self.driver = Some(from);
                self.told_leads = None; // said again: the driver may have missed it
                Ok(())
            }
            Wire::Request(request) => {
                self.clients.insert(request.client, from);
                let now = self.now();
                let at = self.release_at(now, self.spec.faults.client_latency, Some(Link::FromClient(request.client)));
                self.hold(now, at, Held::In(request))
            }
            Wire::Membership { members, view } if view > self.spec.view => {
                let n = self.spec.peers.len();
                self.spec.members = members.into_iter().filter(|&m| m < n).map(NodeId).collect();
                self.spec.view = view;
                self.step(|ctx, p, _| p.as_mut().expect("started").on_membership(ctx))
            }
            Wire::Peer { .. } | Wire::Reply(_) | Wire::Cuts { .. } | Wire::Membership { .. } | Wire::Leads { .. } => {
                Ok(())
            }
        }
    }

    /// Fires every timer that is due, and releases what latency held that is due,
    /// in the order of their times (a held message first on a tie: it was sent earlier).
    fn fire_due(&mut self) -> io::Result<()> {
        loop {
            let now = self.now();
            let timer = self.timers.first_key_value().map(|(&key, _)| key);
            match (timer, self.delay.next()) {
                (timer, Some(at)) if at <= now && timer.is_none_or(|(t, _)| at <= t) => {
                    let what = self.delay.pop().expect("the first held");
                    self.hold(now, now, what)?;
                }
                (Some((at, id)), _) if at <= now => {
                    let timer = self.timers.remove(&(at, id)).expect("the first timer");
                    self.deadlines.remove(&id);
                    self.step(|ctx, p, _| p.as_mut().expect("started").on_timer(ctx, id, timer))?;
                }
                _ => return Ok(()),
            }
        }
    }

    /// How long until the next timer or held message (at most a second, so the loop
    /// wakes anyway).
    fn wait(&self) -> Duration {
        let now = self.now();
        let timer = self.timers.first_key_value().map(|(&(at, _), _)| at);
        let next = timer.into_iter().chain(self.delay.next()).min().unwrap_or(now + 1_000_000_000);
        Duration::from_nanos(next.saturating_sub(now).min(1_000_000_000))
    }

    /// Tells the driver when this node's leadership changed.
    fn report_leadership(&mut self) {
        let leads = self.protocol.as_ref().and_then(P::leads);
        if let Some(driver) = self.driver
            && self.told_leads != Some(leads)
            && let Ok(bytes) = wire::encode(&Wire::<()>::Leads { node: self.spec.id, term: leads })
        {
            self.outbox.push((driver, bytes));
            self.told_leads = Some(leads);
        }
    }

    async fn flush(&mut self, socket: &UdpSocket) -> io::Result<()> {
        self.report_leadership();
        for (to, bytes) in self.outbox.drain(..) {
            // A peer that is down refuses the datagram; the message is lost, as the
            // simulator loses a message to a crashed node.
            let _ = send(socket, &bytes, to).await;
        }
        if let Err(e) = self.trace.finish() {
            return Err(io::Error::new(e.kind(), format!("{}: the node's trace: {e}", self.spec.dir.display())));
        }
        Ok(())
    }
}

/// Something the scenario's latency holds back.
enum Held {
    /// A datagram to send.
    Out {
        /// Where to.
        to: SocketAddr,
        /// The peer it goes to (`None`: a client), whose link may be cut by then.
        peer: Option<usize>,
        /// The datagram.
        bytes: Vec<u8>,
    },
    /// A client's request to hand the protocol.
    In(Request),
}

/// What a node's links hold back, by release time (node time) and then the order
/// it was held in; and when each link last releases, to keep its FIFO order.
#[derive(Default)]
struct DelayLine {
    held: BTreeMap<(u64, u64), Held>,
    count: u64,
    fifo_last: BTreeMap<Link, u64>,
}

impl DelayLine {
    /// When something that enters `link` at `now` leaves it: after a wait drawn from
    /// `latency` (as the simulator draws it), and not before what entered the link
    /// earlier (`None`: a duplicate's copy, which keeps no order).
    fn release_at(&mut self, now: u64, latency: Latency, link: Option<Link>, rng: &mut SimRng) -> u64 {
        let mut at = now.saturating_add(sample(&latency, rng));
        if let Some(link) = link {
            let last = self.fifo_last.entry(link).or_insert(0);
            at = at.max(*last);
            *last = at;
        }
        at
    }

    /// Holds `what` until `at`.
    fn push(&mut self, at: u64, what: Held) {
        self.held.insert((at, self.count), what);
        self.count += 1;
    }

    /// When the first held thing is due.
    fn next(&self) -> Option<u64> {
        self.held.first_key_value().map(|(&(at, _), _)| at)
    }

    /// Takes the first held thing.
    fn pop(&mut self) -> Option<Held> {
        self.held.pop_first().map(|(_, what)| what)
    }
}

/// A link whose FIFO order a node keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Link {
    /// To the peer of this index.
    Peer(usize),
    /// From this client to the node.
    FromClient(usize),
    /// From the node to this client.
    ToClient(usize),
}

/// Sends one datagram (madsim's simulated socket takes the address first).
pub async fn send(socket: &UdpSocket, bytes: &[u8], to: SocketAddr) -> io::Result<()> {
    #[cfg(madsim)]
    return socket.send_to(to, bytes).await;
    #[cfg(not(madsim))]
    return socket.send_to(bytes, to).await.map(drop);
}

/// Flushes on every line, so a `kill -9` loses at most the line being written.
struct LineWriter(std::fs::File);

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Runs node `spec.id` until the process is killed: binds its address, starts the
/// protocol from its disk, and serves peers, clients and timers.
pub async fn serve<P: Protocol>(config: P::Config, spec: NodeSpec) -> io::Result<()>
where
    P::Msg: DeserializeOwned,
    P::Stored: DeserializeOwned,
{
    let addr = *spec.peers.get(spec.id).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("node {} is not among {} peers", spec.id, spec.peers.len()))
    })?;
    let socket = UdpSocket::bind(addr).await.map_err(|e| io::Error::new(e.kind(), format!("binding {addr}: {e}")))?;
    let mut node = Node::<P>::open(config, spec)?;
    node.start()?;
    node.flush(&socket).await?;
    let mut buf = vec![0u8; DATAGRAM_BYTES_MAX + 1];
    loop {
        match madsim::time::timeout(node.wait(), socket.recv_from(&mut buf)).await {
            Ok(Ok((n, from))) if n <= DATAGRAM_BYTES_MAX => node.on_datagram(&buf[..n], from)?,
            // Too long, a refused send reported back (ICMP), or no datagram in time.
            Ok(_) | Err(_) => {}
        }
        node.fire_due()?;
        node.flush(&socket).await?;
    }
}

/// [`serve`] on a runtime of its own (std mode: tokio on this thread).
#[cfg(not(madsim))]
pub fn run_node<P: Protocol>(config: P::Config, spec: NodeSpec) -> io::Result<()>
where
    P::Msg: DeserializeOwned,
    P::Stored: DeserializeOwned,
{
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(serve::<P>(config, spec))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(i: u8) -> Held {
        Held::Out { to: SocketAddr::from(([127, 0, 0, 1], 7000)), peer: Some(1), bytes: vec![i] }
    }

    fn sent(h: Held) -> u8 {
        match h {
            Held::Out { bytes, .. } => bytes[0],
            Held::In(_) => panic!("a request"),
        }
    }

    /// A link's messages leave in the order they were sent, each no sooner than its
    /// drawn latency; another link, and a duplicate's copy, keep no order with it.
    #[test]
    fn a_link_releases_in_fifo_order_after_its_latency() {
        let mut rng = SimRng::new(7, Stream::Node(0));
        let mut line = DelayLine::default();
        let latency = Latency::Uniform { min: 1_000_000, max: 10_000_000 };
        let mut last = 0;
        let mut out_of_order_draws = 0;
        for i in 0..200u8 {
            let now = u64::from(i) * 100_000; // one every 0.1 ms: draws overtake
            let at = line.release_at(now, latency, Some(Link::Peer(1)), &mut rng);
            assert!(at >= now + 1_000_000 && at >= last, "message {i} at {at}, sent at {now}, last {last}");
            out_of_order_draws += usize::from(at == last);
            last = at;
            line.push(at, out(i));
        }
        assert!(out_of_order_draws > 0, "some draws were held back for FIFO order");
        let order: Vec<u8> = std::iter::from_fn(|| line.pop()).map(sent).collect();
        assert_eq!(order, (0..200).collect::<Vec<u8>>());

        // Link to another peer: its own order, from 0.
        let at = line.release_at(0, Latency::Constant(5), Some(Link::Peer(2)), &mut rng);
        assert_eq!(at, 5);
        // No link (a duplicate's copy): just the draw.
        let held_back = line.release_at(0, Latency::Constant(3), Some(Link::Peer(2)), &mut rng);
        let copy = line.release_at(0, Latency::Constant(3), None, &mut rng);
        assert_eq!((held_back, copy), (5, 3));
        // Time cannot wrap.
        assert_eq!(line.release_at(u64::MAX - 1, latency, None, &mut rng), u64::MAX);
    }

    /// A node that sends nothing of its own: its effects are given to it by hand.
    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    struct Quiet;

    impl Protocol for Quiet {
        type Msg = ();
        type Timer = ();
        type Stored = ();
        type Config = ();
        const OPS: &'static [faultline_sim::OpKind] = &[];
        fn start(_: &mut Ctx<'_, Self>, _: &(), _: &Durable<()>) -> Self {
            Quiet
        }
        fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}
        fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: TimerId, _: ()) {}
        fn on_request(&mut self, _: &mut Ctx<'_, Self>, _: Request) {}
    }

    /// A message is held for its link's latency, and a cut is looked at when it
    /// leaves, as the simulator looks at it when a message arrives: one held across
    /// the start of a partition is lost, one held across a heal gets through.
    #[test]
    fn a_held_message_meets_the_cut_of_the_moment_it_leaves() {
        let dir = std::env::temp_dir().join(format!("faultline-net-held-{}", std::process::id()));
        let peers = vec![SocketAddr::from(([127, 0, 0, 1], 7001)), SocketAddr::from(([127, 0, 0, 1], 7002))];
        let ms = |n: u64| Latency::Constant(n * 1_000_000);
        let faults = LinkFaults {
            loss: Ppm(0),
            duplicate: Ppm(0),
            client_loss: Ppm(0),
            latency: vec![ms(0), ms(50), ms(50), ms(0)],
            client_latency: ms(0),
        };
        let spec = NodeSpec {
            id: 0,
            peers,
            dir: dir.clone(),
            seed: 1,
            epoch_ns: now_ns(),
            faults,
            members: vec![NodeId(0), NodeId(1)],
            view: 0,
        };
        let mut node = Node::<Quiet>::open((), spec).expect("a node");
        for cut_when_it_leaves in [true, false] {
            node.cut_out[1] = !cut_when_it_leaves;
            node.apply(0, Effect::Send { to: NodeId(1), msg: () }).expect("sent");
            assert!(node.outbox.is_empty(), "held for 50 ms, not sent at once");
            assert_eq!(node.delay.next(), Some(50_000_000), "held until 50 ms");
            node.cut_out[1] = cut_when_it_leaves;
            let what = node.delay.pop().expect("held");
            node.hold(50_000_000, 50_000_000, what).expect("released");
            assert_eq!(node.outbox.len(), usize::from(!cut_when_it_leaves), "cut when it leaves: {cut_when_it_leaves}");
            node.outbox.clear();
        }
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    /// A scenario's per-link latencies reach the sender of each link.
    #[test]
    fn link_faults_take_each_links_latency() {
        let text = r#"
name = "t"
protocol = "quiet"
nodes = 3
duration = "1s"
[network]
latency = { dist = "constant", value = "2ms" }
[[network.links]]
from = "n1"
to = "n3"
latency = { dist = "constant", value = "40ms" }
"#;
        use faultline_sim::scenario::{Catalog, Known};
        let catalog = Catalog { protocols: vec![Known::of::<Quiet>("quiet", vec!["correct"])] };
        let s = faultline_sim::scenario::parse("t.toml", text, &catalog).expect("parses");
        let f = LinkFaults::of(&s);
        assert_eq!(f.peer_latency(0, 2, 3), Latency::Constant(40_000_000));
        assert_eq!(f.peer_latency(2, 0, 3), Latency::Constant(2_000_000));
        assert_eq!(f.peer_latency(0, 1, 3), Latency::Constant(2_000_000));
        assert_eq!(f.client_latency, Latency::Constant(2_000_000));
    }
}
