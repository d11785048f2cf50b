//! One page of a list kept in several ordered shards (the home feed's `FEED#k` partitions; every
//! other list is one shard): the shards are read in parallel (a bounded number at a time), each
//! only as far as the page needs, and merged in order. The cursor is one position in the merged
//! order.
//!
//! An item is handed out only once every shard that could still hold something before it has
//! been read past it; a shard is read again only when it blocks the page that way, with the
//! limit the page still needs. Reads are bounded: after `max_reads` the page ends early with a
//! cursor from which nothing is skipped (expired items that DynamoDB has not deleted yet can make
//! a page short, never unbounded).

use std::collections::VecDeque;
use std::future::Future;

use futures_util::stream::{self, StreamExt, TryStreamExt};

use crate::store::cursor::Position;

/// How many shard reads a page has in flight at once.
pub const MAX_PARALLEL_READS: usize = 8;

/// The order a list is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

impl Order {
    /// Whether `a` comes before `b` in this order.
    fn before(self, a: Position, b: Position) -> bool {
        match self {
            Order::NewestFirst => a > b,
            Order::OldestFirst => a < b,
        }
    }

    /// Whether the stores read this list forwards (ascending sort keys).
    pub fn ascending(self) -> bool {
        self == Order::OldestFirst
    }
}

/// What one read of one shard returned: its items in order, and where the shard continues
/// (`None`: the shard has nothing after its last item).
#[derive(Debug)]
pub struct ShardRead<T> {
    pub items: Vec<(Position, T)>,
    pub resume: Option<Position>,
}

/// A merged page: its items and, when more may follow, the position to continue after.
#[derive(Debug)]
pub struct Merged<T> {
    pub items: Vec<T>,
    pub next: Option<Position>,
}

struct Shard<T> {
    buffer: VecDeque<(Position, T)>,
    /// Everything in the shard before this position has been read (`None` with `read == false`:
    /// nothing read yet, so it could hold anything after the page's start).
    frontier: Option<Position>,
    read: bool,
    done: bool,
}

/// Reads `limit` items after `start` in `order` from `shards` shards through `read(shard,
/// after, limit)`, making at most `max_reads` reads.
pub async fn merge<T, E, F, Fut>(
    shards: usize,
    order: Order,
    start: Option<Position>,
    limit: usize,
    max_reads: usize,
    read: F,
) -> Result<Merged<T>, E>
where
    F: Fn(usize, Option<Position>, usize) -> Fut,
    Fut: Future<Output = Result<ShardRead<T>, E>>,
{
    // One more than the page, to know whether another page follows.
    let wanted = limit + 1;
    // Every shard can be read at least twice, so a page always gets past its start.
    let max_reads = max_reads.max(2 * shards);
    let mut state: Vec<Shard<T>> = (0..shards)
        .map(|_| Shard {
            buffer: VecDeque::new(),
            frontier: start,
            read: false,
            done: false,
        })
        .collect();
    let mut out: Vec<(Position, T)> = Vec::with_capacity(wanted);
    let mut reads = 0;
    loop {
        let best = state
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.buffer.front().map(|(p, _)| (i, *p)))
            .reduce(|a, b| if order.before(b.1, a.1) { b } else { a });
        // Shards that may still hold something before the best buffered item.
        let blocking: Vec<usize> = state
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.done && s.buffer.is_empty())
            .filter(|(_, s)| match (best, s.frontier, s.read) {
                (None, _, _) | (_, _, false) => true,
                (Some((_, head)), Some(frontier), true) => order.before(frontier, head),
                (Some(_), None, true) => true,
            })
            .map(|(i, _)| i)
            .collect();
        if !blocking.is_empty() {
            if reads + blocking.len() > max_reads {
                // Out of reads: continue from the frontier furthest along the order that still
                // blocks; everything handed out comes before it, everything buffered after it.
                let next = blocking
                    .iter()
                    .filter_map(|&i| state[i].frontier)
                    .reduce(|a, b| if order.before(a, b) { a } else { b })
                    .or(out.last().map(|(p, _)| *p));
                out.truncate(limit);
                return Ok(Merged {
                    items: out.into_iter().map(|(_, item)| item).collect(),
                    next,
                });
            }
            let need = wanted - out.len();
            // A first read takes about this shard's share of the page (plus one for unevenness);
            // later reads what the page still needs.
            // Each read's future is made only when its turn comes: an SDK call's future is
            // kilobytes before it first runs, and a page may read dozens of shards.
            let reading = blocking.iter().copied().map(|i| {
                let limit = if state[i].read {
                    need
                } else {
                    need.min(need.div_ceil(shards) + 1)
                };
                read(i, state[i].frontier, limit)
            });
            // At most a few reads in flight: each is a connection (a TLS handshake on a cold
            // start, buffers while open) and CPU for signing on a fraction of a vCPU.
            let results: Vec<ShardRead<T>> = stream::iter(reading)
                .buffered(MAX_PARALLEL_READS)
                .try_collect()
                .await?;
            reads += blocking.len();
            for (i, result) in blocking.into_iter().zip(results) {
                let shard = &mut state[i];
                shard.read = true;
                shard.buffer.extend(result.items);
                shard.done = result.resume.is_none();
                shard.frontier = result.resume;
            }
            continue;
        }
        let Some((index, _)) = best else {
            // Every shard read to its end.
            return Ok(Merged {
                items: out.into_iter().map(|(_, item)| item).collect(),
                next: None,
            });
        };
        let item = state[index]
            .buffer
            .pop_front()
            .expect("the best shard has a head");
        out.push(item);
        if out.len() == wanted {
            out.truncate(limit);
            let next = out.last().map(|(p, _)| *p);
            return Ok(Merged {
                items: out.into_iter().map(|(_, item)| item).collect(),
                next,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::convert::Infallible;

    use uuid::Uuid;

    use super::*;

    /// Shards as sorted vectors, read the way DynamoDB reads a partition: up to `limit` items
    /// after a position, with expired items (odd millis here) using up the limit unseen.
    struct Fake {
        shards: Vec<Vec<Position>>,
        reads: RefCell<Vec<usize>>,
        in_flight: Cell<usize>,
        most_in_flight: Cell<usize>,
        /// Read futures made and not finished yet (running or waiting for their turn).
        made: Cell<usize>,
        most_made: Cell<usize>,
    }

    impl Fake {
        fn new(shards: usize, items: &[Position]) -> Self {
            let mut lists = vec![Vec::new(); shards];
            for (i, p) in items.iter().enumerate() {
                lists[i * 7 % shards].push(*p);
            }
            Self {
                shards: lists,
                reads: RefCell::new(Vec::new()),
                in_flight: Cell::new(0),
                most_in_flight: Cell::new(0),
                made: Cell::new(0),
                most_made: Cell::new(0),
            }
        }

        fn read(
            &self,
            order: Order,
            shard: usize,
            after: Option<Position>,
            limit: usize,
        ) -> impl Future<Output = Result<ShardRead<Position>, Infallible>> + '_ {
            let made = self.made.get() + 1;
            self.made.set(made);
            self.most_made.set(self.most_made.get().max(made));
            let read = self.read_now(order, shard, after, limit);
            async move {
                let result = read.await;
                self.made.set(self.made.get() - 1);
                result
            }
        }

        async fn read_now(
            &self,
            order: Order,
            shard: usize,
            after: Option<Position>,
            limit: usize,
        ) -> Result<ShardRead<Position>, Infallible> {
            self.reads.borrow_mut().push(limit);
            let now = self.in_flight.get() + 1;
            self.in_flight.set(now);
            self.most_in_flight.set(self.most_in_flight.get().max(now));
            // A read waits on the network: let the others start meanwhile.
            tokio::task::yield_now().await;
            self.in_flight.set(self.in_flight.get() - 1);
            let mut all = self.shards[shard].clone();
            all.sort();
            if order == Order::NewestFirst {
                all.reverse();
            }
            let evaluated: Vec<Position> = all
                .into_iter()
                .filter(|p| after.is_none_or(|a| order.before(a, *p)))
                .take(limit)
                .collect();
            let resume = (evaluated.len() == limit).then(|| *evaluated.last().unwrap());
            Ok(ShardRead {
                items: evaluated
                    .into_iter()
                    .filter(|p| p.millis % 2 == 0)
                    .map(|p| (p, p))
                    .collect(),
                resume,
            })
        }
    }

    fn positions(n: usize, expired_every: usize) -> Vec<Position> {
        (0..n)
            .map(|i| Position {
                millis: 2 * (i as i64) + i64::from(expired_every > 0 && i % expired_every == 0),
                uuid: Uuid::new_v4(),
            })
            .collect()
    }

    async fn walk(
        fake: &Fake,
        shards: usize,
        order: Order,
        max_reads: usize,
    ) -> Vec<Vec<Position>> {
        let mut pages = Vec::new();
        let mut start = None;
        loop {
            let page = merge(shards, order, start, 20, max_reads, |s, a, l| {
                fake.read(order, s, a, l)
            })
            .await
            .unwrap();
            pages.push(page.items);
            match page.next {
                Some(next) => start = Some(next),
                None => return pages,
            }
            assert!(pages.len() < 1_000, "paging must end");
        }
    }

    #[tokio::test]
    async fn merged_pages_are_the_whole_list_in_order_once() {
        for (shards, order) in [
            (1, Order::NewestFirst),
            (4, Order::OldestFirst),
            (32, Order::NewestFirst),
        ] {
            let items = positions(95, 0);
            let fake = Fake::new(shards, &items);
            let pages = walk(&fake, shards, order, usize::MAX).await;
            let mut expected = items.clone();
            expected.sort();
            if order == Order::NewestFirst {
                expected.reverse();
            }
            assert_eq!(pages.concat(), expected, "{shards} shards {order:?}");
            assert!(pages.iter().all(|p| p.len() == 20 || p.len() == 15));
            assert_eq!(pages.len(), 5, "no empty trailing page");
        }
    }

    #[tokio::test]
    async fn expired_items_make_pages_short_but_nothing_is_lost() {
        let items = positions(200, 2);
        let fake = Fake::new(8, &items);
        let pages = walk(&fake, 8, Order::NewestFirst, 12).await;
        let mut expected: Vec<Position> = items.into_iter().filter(|p| p.millis % 2 == 0).collect();
        expected.sort();
        expected.reverse();
        assert_eq!(pages.concat(), expected);
        // Every read asked for at most a page and one.
        assert!(fake.reads.borrow().iter().all(|&l| l <= 21));
    }

    #[tokio::test]
    async fn first_reads_take_a_share_of_the_page() {
        let items = positions(1_000, 0);
        let fake = Fake::new(32, &items);
        merge(32, Order::NewestFirst, None, 20, usize::MAX, |s, a, l| {
            fake.read(Order::NewestFirst, s, a, l)
        })
        .await
        .unwrap();
        let reads = fake.reads.borrow();
        assert!(reads[..32].iter().all(|&l| l == 2), "{reads:?}");
        // Reads run a few at a time, and the others' futures are not made before their turn.
        assert_eq!(fake.most_in_flight.get(), MAX_PARALLEL_READS);
        assert_eq!(fake.most_made.get(), MAX_PARALLEL_READS);
        let items_read: usize = reads.iter().sum();
        assert!(
            items_read < 32 * 21,
            "{items_read} items read for a page of 20"
        );
    }
}
