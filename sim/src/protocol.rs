//! The sans-IO protocol trait. A protocol is a pure state machine: it does no IO, reads
//! no clock, owns no RNG and starts no thread. The engine calls it and it answers with
//! effects as data, pushed into its [`Ctx`].

use std::fmt::Debug;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use crate::rng::SimRng;
use crate::time::{Dur, Time};

/// Names a live timer of one node; handed out by [`Ctx::set_timer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TimerId(pub u64);

pub use faultline_checker::observe::{Observation, Violation};
pub use faultline_checker::op::{ClientId, Image, NodeId, Op, OpKind};

/// A request as it reaches a node.
///
/// `(client, seq)` names the operation: a client has one operation outstanding at a
/// time, numbers them 1, 2, 3, ..., and sends the same pair again when it retries, so
/// a protocol can tell a retry from a new operation. A client sends again when its
/// timeout passes without an answer (to the next node, round-robin) and when a node
/// answers [`Outcome::Redirect`] (to the node named). `attempt` and `first` say which
/// send this is: a leaderless protocol, which cannot rely on one log to deduplicate,
/// uses them to know that an earlier attempt may already have taken effect through
/// another node (and to ask that node).
///
/// ```
/// use faultline_sim::{NodeId, Op, Request};
/// let first = Request::new(0, 1, Op::Get { key: "k1".into() });
/// assert_eq!((first.attempt, first.first), (0, None));
/// let again = first.retried(NodeId(2), 1);
/// assert_eq!((again.attempt, again.first), (1, Some(NodeId(2))));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Request {
    /// Which client asks (c1 is 0).
    pub client: ClientId,
    /// The client's number for the operation: 1, 2, 3, ..., one at a time.
    pub seq: u64,
    /// What it asks for.
    pub op: Op,
    /// How many times the client sent this operation before this send: 0 the first
    /// time; retries after a timeout and re-sends after a redirect each add one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u32,
    /// The node the first attempt went to; `None` on the first attempt itself. The
    /// trace names it as it names nodes, `"n2"`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "node_name")]
    pub first: Option<NodeId>,
}

/// An optional node id as its name, `"n2"`, the way the trace names nodes.
mod node_name {
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error};

    use super::NodeId;

    pub fn serialize<S: Serializer>(node: &Option<NodeId>, s: S) -> Result<S::Ok, S::Error> {
        node.map(crate::trace::NodeIdName).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NodeId>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(name) => NodeId::parse(&name)
                .map(Some)
                .ok_or_else(|| D::Error::custom(format!("`{name}` is not a node (n1, n2, ...)"))),
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Request {
    /// A first attempt.
    pub fn new(client: ClientId, seq: u64, op: Op) -> Request {
        Request { client, seq, op, attempt: 0, first: None }
    }

    /// The same operation sent again: attempt number `attempt`, first sent to `first`.
    pub fn retried(&self, first: NodeId, attempt: u32) -> Request {
        Request { attempt, first: Some(first), ..self.clone() }
    }
}

/// What a node answers a client.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A `get`: the value (`""` for a key never written).
    Value(String),
    /// A `put` or `append` took effect.
    Done,
    /// A `cas` took effect (true) or found another value and changed nothing (false).
    Swapped(bool),
    /// Not the node to ask; try `hint` if given. The operation took no effect.
    Redirect(Option<NodeId>),
    /// A definite failure: the operation took no effect.
    Rejected(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
/// A node's answer to a client's request.
pub struct Reply {
    /// The client it answers.
    pub client: ClientId,
    /// The operation it answers (the request's `seq`).
    pub seq: u64,
    /// The answer.
    pub outcome: Outcome,
}

/// An effect a protocol asks the engine to carry out.
#[derive(Clone, Debug)]
pub enum Effect<P: Protocol> {
    /// Send `msg` to node `to`.
    Send {
        /// The receiver.
        to: NodeId,
        /// The message.
        msg: P::Msg,
    },
    /// Fire `on_timer` with `timer` after `after` on the node's own clock.
    SetTimer {
        /// The timer's id, as [`Ctx::set_timer`] handed it out.
        id: TimerId,
        /// How long from now, on the node's clock.
        after: Dur,
        /// What the timer carries.
        timer: P::Timer,
    },
    /// Cancel a timer that has not fired.
    CancelTimer {
        /// The timer's id.
        id: TimerId,
    },
    /// Answer a client.
    Reply(Reply),
    /// Write `value` under `key` (None deletes); lost on crash unless synced.
    Write {
        /// The key.
        key: String,
        /// The value; `None` deletes the key.
        value: Option<P::Stored>,
    },
    /// Make every write so far durable.
    Sync,
    /// A free-form line for the trace, e.g. "became primary".
    Note(String),
    /// What the node did, for the tester (see [`Ctx::observe`]).
    Observe(Box<Observation>),
}

/// A node's random stream as a [`Ctx`] holds it: ready, or made on first use (the
/// explorer steps a node millions of times, and most handlers draw nothing).
pub(crate) enum RngSlot<'a> {
    Ready(&'a mut SimRng),
    Later { seed: u64, stream: crate::rng::Stream, slot: &'a mut Option<SimRng> },
}

/// What the engine hands a protocol on each call: who it is, the cluster, its local
/// clock, its random stream, and the buffer its effects go to.
pub struct Ctx<'a, P: Protocol> {
    pub(crate) id: NodeId,
    pub(crate) nodes: usize,
    pub(crate) local_now: Time,
    pub(crate) mono_now: Time,
    pub(crate) rng: RngSlot<'a>,
    pub(crate) effects: &'a mut Vec<Effect<P>>,
    pub(crate) next_timer: &'a mut u64,
    pub(crate) members: &'a [NodeId],
    pub(crate) view: u64,
}

impl<'a, P: Protocol> Ctx<'a, P> {
    /// A context outside the engine, for stepping a protocol by hand in tests.
    pub fn manual(
        id: NodeId,
        nodes: usize,
        local_now: Time,
        rng: &'a mut SimRng,
        effects: &'a mut Vec<Effect<P>>,
        next_timer: &'a mut u64,
    ) -> Self {
        Ctx::hosted(id, nodes, local_now, rng, effects, next_timer, &[], 0)
    }
    /// A context for a host outside the engine (the real-network host): like
    /// [`Ctx::manual`], with the membership view the host was last told.
    #[allow(clippy::too_many_arguments)]
    pub fn hosted(
        id: NodeId,
        nodes: usize,
        local_now: Time,
        rng: &'a mut SimRng,
        effects: &'a mut Vec<Effect<P>>,
        next_timer: &'a mut u64,
        members: &'a [NodeId],
        view: u64,
    ) -> Self {
        Ctx { id, nodes, local_now, mono_now: local_now, rng: RngSlot::Ready(rng), effects, next_timer, members, view }
    }
    /// Who this node is.
    pub fn id(&self) -> NodeId {
        self.id
    }
    /// The number of nodes in the cluster; they are `NodeId(0..nodes)`.
    pub fn cluster_size(&self) -> usize {
        self.nodes
    }
    /// The current members, in node order (the scenario's `members`, changed by
    /// `join` and `leave`), as a configuration service would announce them. Empty
    /// in a context made by [`Ctx::manual`].
    pub fn members(&self) -> &[NodeId] {
        self.members
    }
    /// The number of the current membership view: 0 at the start, one more per change.
    pub fn view(&self) -> u64 {
        self.view
    }
    /// Every other node of the cluster.
    pub fn peers(&self) -> impl Iterator<Item = NodeId> + use<P> {
        let me = self.id;
        (0..self.nodes).map(NodeId).filter(move |&n| n != me)
    }
    /// This node's wall-clock reading: skewed and drifting as the scenario says, and
    /// stepped by clock faults (forward or back). Fine for timestamps shown to people;
    /// measure timeouts with [`Ctx::monotonic`] or with timers.
    pub fn now(&self) -> Time {
        self.local_now
    }
    /// This node's monotonic clock (CLOCK_MONOTONIC): it drifts as the node's clock
    /// does but never steps, so `monotonic() - earlier` is a duration on the node's
    /// own clock, the same clock its timers fire by. In a context made by
    /// [`Ctx::manual`] it equals [`Ctx::now`].
    pub fn monotonic(&self) -> Time {
        self.mono_now
    }
    /// This node's own random stream (seeded, so a run replays exactly).
    pub fn rng(&mut self) -> &mut SimRng {
        match &mut self.rng {
            RngSlot::Ready(rng) => rng,
            RngSlot::Later { seed, stream, slot } => slot.get_or_insert_with(|| SimRng::new(*seed, *stream)),
        }
    }
    /// Sends `msg` to node `to` (itself too: see the book's "Messages").
    pub fn send(&mut self, to: NodeId, msg: P::Msg) {
        self.effects.push(Effect::Send { to, msg });
    }
    /// Fires `timer` once `after` has passed on this node's own clock.
    pub fn set_timer(&mut self, after: Dur, timer: P::Timer) -> TimerId {
        *self.next_timer += 1;
        let id = TimerId(*self.next_timer);
        self.effects.push(Effect::SetTimer { id, after, timer });
        id
    }
    /// Cancels timer `id`; a timer that already fired is not affected.
    pub fn cancel_timer(&mut self, id: TimerId) {
        self.effects.push(Effect::CancelTimer { id });
    }
    /// Answers a client's request.
    pub fn reply(&mut self, reply: Reply) {
        self.effects.push(Effect::Reply(reply));
    }
    /// Writes `value` under `key` on this node's disk; a crash loses it unless synced.
    pub fn write(&mut self, key: impl Into<String>, value: P::Stored) {
        self.effects.push(Effect::Write { key: key.into(), value: Some(value) });
    }
    /// Deletes `key` from this node's disk; a crash undoes it unless synced.
    pub fn delete(&mut self, key: impl Into<String>) {
        self.effects.push(Effect::Write { key: key.into(), value: None });
    }
    /// Makes every write so far durable (an fsync).
    pub fn sync(&mut self) {
        self.effects.push(Effect::Sync);
    }
    /// A line in the trace, e.g. "became leader of term 3".
    pub fn note(&mut self, text: impl Into<String>) {
        self.effects.push(Effect::Note(text.into()));
    }
    /// Runs `f` with a context for a protocol `Q` that this node embeds (a Raft
    /// group inside a shard of a larger store, say), then passes `Q`'s effects on
    /// as this node's own: messages, timers and stored values converted by `From`
    /// (wrap them in a variant of this protocol's types), replies, notes and
    /// observations as they are. Same node, clocks, random stream and timer ids.
    pub fn nest<Q: Protocol, R>(&mut self, f: impl FnOnce(&mut Ctx<'_, Q>) -> R) -> R
    where
        P::Msg: From<Q::Msg>,
        P::Timer: From<Q::Timer>,
        P::Stored: From<Q::Stored>,
    {
        let mut effects: Vec<Effect<Q>> = Vec::new();
        let out = {
            let rng = match &mut self.rng {
                RngSlot::Ready(rng) => RngSlot::Ready(rng),
                RngSlot::Later { seed, stream, slot } => RngSlot::Later { seed: *seed, stream: *stream, slot },
            };
            let mut inner = Ctx {
                id: self.id,
                nodes: self.nodes,
                local_now: self.local_now,
                mono_now: self.mono_now,
                rng,
                effects: &mut effects,
                next_timer: &mut *self.next_timer,
                members: self.members,
                view: self.view,
            };
            f(&mut inner)
        };
        self.effects.extend(effects.into_iter().map(|e| match e {
            Effect::Send { to, msg } => Effect::Send { to, msg: msg.into() },
            Effect::SetTimer { id, after, timer } => Effect::SetTimer { id, after, timer: timer.into() },
            Effect::CancelTimer { id } => Effect::CancelTimer { id },
            Effect::Reply(r) => Effect::Reply(r),
            Effect::Write { key, value } => Effect::Write { key, value: value.map(Into::into) },
            Effect::Sync => Effect::Sync,
            Effect::Note(n) => Effect::Note(n),
            Effect::Observe(o) => Effect::Observe(o),
        }));
        out
    }

    /// Tells the tester what this node just did ("I promised ballot 4.2", "I decided
    /// t3.1: commit"). The run's [`Judge`](crate::judge::Judge) holds every
    /// observation to the invariants of its protocol family, and the trace records it.
    /// Report it at the moment it happens: the judge sees a step's observations in order.
    pub fn observe(&mut self, what: Observation) {
        self.effects.push(Effect::Observe(Box::new(what)));
    }
}

/// A message between nodes, with names for its kinds.
///
/// A kind is what a scenario's `drop` fault names (`drop = { kind = "Accept", ... }`)
/// and the name the trace gives it. Implement it with [`crate::message_kinds!`]: it
/// names each variant after itself, and a variant left out does not compile.
pub trait Message: Clone + Eq + Hash + Debug + Serialize {
    /// Every kind, in declaration order.
    const KINDS: &'static [&'static str];
    /// This message's kind, one of [`Message::KINDS`].
    fn kind(&self) -> &'static str;
}

/// Implements [`Message`] for an enum, naming each kind after its variant.
///
/// ```
/// use faultline_sim::protocol::Message;
/// #[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
/// enum Msg {
///     Ping(u64),
///     Pong { seq: u64 },
///     Bye,
/// }
/// faultline_sim::message_kinds!(Msg { Ping, Pong, Bye });
/// assert_eq!(Msg::Pong { seq: 3 }.kind(), "Pong");
/// assert_eq!(Msg::KINDS, &["Ping", "Pong", "Bye"]);
/// ```
#[macro_export]
macro_rules! message_kinds {
    ($ty:ident { $($variant:ident),+ $(,)? }) => {
        impl $crate::protocol::Message for $ty {
            const KINDS: &'static [&'static str] = &[$(stringify!($variant)),+];
            fn kind(&self) -> &'static str {
                match self {
                    $($ty::$variant { .. } => stringify!($variant)),+
                }
            }
        }
    };
}

/// The message of a protocol whose nodes never talk to each other.
impl Message for () {
    const KINDS: &'static [&'static str] = &["()"];
    fn kind(&self) -> &'static str {
        "()"
    }
}

/// A protocol: one state machine per node.
///
/// States and messages are `Clone + Eq + Hash + Debug`, so the same protocol can later
/// run under an exhaustive explorer as well as under random simulation.
pub trait Protocol: Sized + Clone + Eq + Hash + Debug {
    /// A message between nodes.
    type Msg: Message;
    /// What a node arms a timer with, handed back when it fires.
    type Timer: Clone + Eq + Hash + Debug + Serialize;
    /// A value in the node's durable storage.
    type Stored: Clone + Eq + Hash + Debug + Serialize;
    /// How a run configures every node, e.g. which bug-zoo variant to be.
    type Config: Clone + Debug;

    /// Start a node: fresh (`durable` empty) or after a restart with what was synced.
    fn start(ctx: &mut Ctx<'_, Self>, config: &Self::Config, durable: &crate::disk::Durable<Self::Stored>) -> Self;
    /// A message `msg` from node `from` arrived.
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Self::Msg);
    /// Timer `id`, armed with `timer`, fired.
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, id: TimerId, timer: Self::Timer);
    /// A client's request arrived.
    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, request: Request);

    /// The membership changed (`ctx.members()`, `ctx.view()`): called at once on
    /// every node that is up and not paused. A node that was down sees the view when
    /// it starts (in `ctx.members()`); a paused one is called when it resumes, before
    /// the messages and timers that waited for it.
    fn on_membership(&mut self, _ctx: &mut Ctx<'_, Self>) {}

    /// This node's own invariants, checked after each of its steps.
    fn check_invariants(&self) -> Result<(), Violation> {
        Ok(())
    }

    /// `Some(term)` while this node believes it leads the cluster (its term, ballot or
    /// epoch; any number that grows with each new leader). Scenario faults aimed at
    /// "leader" hit the node with the highest such number; "follower" hits any other.
    fn leads(&self) -> Option<u64> {
        None
    }

    /// Whether [`Protocol::leads`] can ever say yes. Without a leader, scenario
    /// faults aimed at "leader" and the nemesis kinds crash-leader and
    /// isolate-leader would inject nothing, so the scenario parser refuses them.
    const HAS_LEADER: bool = false;

    /// The fewest nodes this protocol runs on (a stream job needs a coordinator, a
    /// task and a store). A scenario with fewer is refused when parsed, on its
    /// `nodes` line.
    const MIN_NODES: usize = 1;

    /// The replication group node `node` serves in, in a cluster of `nodes`: 0 for
    /// every node of a protocol that replicates over the whole cluster (the
    /// default); a service that runs several Raft groups numbers them. The judge
    /// holds each group's replicated log to its invariants apart.
    fn replica_group(_node: NodeId, _nodes: usize) -> usize {
        0
    }

    /// The client operations this protocol serves. A scenario whose workload mix
    /// weighs any other is refused when parsed, with the line to fix. A key-value
    /// store serves [`OpKind::KV`] (the default), a bank [`OpKind::BANK`]; a protocol
    /// that serves no clients says `&[]`.
    const OPS: &'static [OpKind] = OpKind::KV;

    /// Named numbers about the cluster that scenario files can assert on with
    /// `[[check.assert]]`, as `(name, what it measures)`.
    const PROBES: &'static [(&'static str, &'static str)] = &[];

    /// Measures probe `name` (one of [`Protocol::PROBES`]) over `nodes`. The engine
    /// passes only the nodes that are up and in the majority group (connected to more
    /// than half of the cluster); every other entry is `None`.
    fn probe(_nodes: &[Option<&Self>], _name: &str) -> i64 {
        0
    }

    /// A protocol's own cluster-wide safety properties, checked after every event,
    /// for what no protocol family's observations cover (the families' invariants
    /// are judged from [`Ctx::observe`], and need nothing here). The [`Cluster`]
    /// holds every node's current state (`None` while it is down), the node whose
    /// step just ran (the only state that changed, so a check may look at it alone
    /// where that is enough), and every node's disk, down or up: "an acknowledged
    /// write is on a majority of disks" is stated by reading them. Reading other
    /// nodes' fields ties the check to this one implementation; prefer observations.
    fn check_cluster(_cluster: &Cluster<'_, Self>) -> Result<(), Violation> {
        Ok(())
    }

    /// Numbers the run summary reports at the end, as `(name, value)`: e.g. the
    /// money each participant holds. The judge's families add their own (how long
    /// participants stayed blocked, what each view change moved). The cluster's
    /// [`Cluster::now`] is the end of the run.
    fn measures(_cluster: &Cluster<'_, Self>) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// Where a [`Cluster`]'s states live: the engine's own, or the explorer's shared ones.
enum Nodes<'a, P> {
    Owned(&'a [Option<P>]),
    Shared(&'a [Option<std::rc::Rc<P>>]),
}

/// The whole cluster, as a protocol's own check sees it after a step
/// ([`Protocol::check_cluster`]) and at the end of the run ([`Protocol::measures`]).
pub struct Cluster<'a, P: Protocol> {
    nodes: Nodes<'a, P>,
    disks: &'a dyn crate::disk::Disks<P::Stored>,
    stepped: usize,
    now: Time,
}

impl<'a, P: Protocol> Cluster<'a, P> {
    /// The cluster after `stepped`'s step at `now`: the nodes' states (`None` while
    /// down) and their disks.
    pub fn new(
        nodes: &'a [Option<P>],
        disks: &'a dyn crate::disk::Disks<P::Stored>,
        stepped: usize,
        now: Time,
    ) -> Cluster<'a, P> {
        Cluster { nodes: Nodes::Owned(nodes), disks, stepped, now }
    }

    /// [`Cluster::new`] over states shared between the explorer's states.
    pub fn shared(
        nodes: &'a [Option<std::rc::Rc<P>>],
        disks: &'a dyn crate::disk::Disks<P::Stored>,
        stepped: usize,
        now: Time,
    ) -> Cluster<'a, P> {
        Cluster { nodes: Nodes::Shared(nodes), disks, stepped, now }
    }

    /// Every node's state, by node index; `None` for a node that is down.
    pub fn nodes(&self) -> Vec<Option<&'a P>> {
        match self.nodes {
            Nodes::Owned(n) => n.iter().map(Option::as_ref).collect(),
            Nodes::Shared(n) => n.iter().map(|x| x.as_deref()).collect(),
        }
    }

    /// Node `node`'s state; `None` while it is down (or past the cluster's end).
    pub fn node(&self, node: NodeId) -> Option<&'a P> {
        match self.nodes {
            Nodes::Owned(n) => n.get(node.0).and_then(Option::as_ref),
            Nodes::Shared(n) => n.get(node.0).and_then(|x| x.as_deref()),
        }
    }

    /// The index of the node whose step just ran.
    pub fn stepped(&self) -> usize {
        self.stepped
    }

    /// The virtual time of the step (the end of the run, in [`Protocol::measures`]).
    pub fn now(&self) -> Time {
        self.now
    }

    /// What node `node`'s disk holds durably under `key` ([`Ctx::write`] then
    /// [`Ctx::sync`]): what a restart would read. Readable while the node is down,
    /// which is when it matters: a crash keeps exactly this.
    pub fn synced(&self, node: NodeId, key: &str) -> Option<&'a P::Stored> {
        self.disks.disk(node.0).and_then(|d| d.synced(key))
    }
}

/// The judge for a cluster of `nodes` nodes of protocol `P`, each node's replicated
/// log observations judged with its group's ([`Protocol::replica_group`]).
pub fn judge_for<P: Protocol>(nodes: usize) -> crate::judge::Judge {
    crate::judge::Judge::grouped(nodes, (0..nodes).map(|i| P::replica_group(NodeId(i), nodes)).collect())
}
