//! The shopper's session, and its one owner: the photos searched, the query made of them (or of
//! the liked items), the ranking options the widget's controls set, the results shown and
//! their paging, the likes and dislikes, and when the last photo was described. It depends on
//! the library only; the widget and the JS API change it through its methods, and whoever
//! [`Session::listen`]s is handed every new set of results. What its searches are made of and
//! give is `results`' plain data.

use std::cell::{Ref, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;

pub(crate) use super::results::{
    DEFAULT_RESULTS, Label, Photo, Query, Results, SearchOptions, Timings, Work,
};
use crate::index::ivf::{Facets, Found, Published, Record};
use crate::index::{
    Blend, Card, CatalogueIndex, Description, Feedback, Filters, Item, Variants, rank_where,
    reason, top_labels,
};

/// Items of a partitioned catalogue a session keeps once read (those voted on are kept
/// whatever their number).
const MAX_READ: usize = 4096;

/// How a session is set up: the catalogue, the model's labels and where item images are.
pub(crate) struct Catalogue {
    /// Items in the whole catalogue.
    pub count: usize,
    /// A partitioned catalogue's facets (a whole one's come from its items).
    pub facets: Option<Facets>,
    /// The model's category labels, in head order.
    pub labels: Vec<String>,
    /// Whether the model is trained (an untrained one names no category).
    pub trained: bool,
    /// An item's image URL (as the index names it) as the page loads it.
    pub image_url: Box<dyn Fn(&str) -> String>,
    /// Results per page.
    pub page_size: usize,
    /// The time now, in milliseconds, for the ranking's timing.
    pub clock: Box<dyn Fn() -> f64>,
    /// Whether items out of stock are shown.
    pub show_out_of_stock: bool,
    /// Which variants of a product are shown.
    pub variants: Variants,
}

struct State {
    photos: Vec<Rc<Photo>>,
    query: Option<Rc<Query>>,
    /// The options the widget's controls describe (`top` aside: see `shown`).
    options: SearchOptions,
    /// Results shown now: a whole number of pages.
    shown: usize,
    /// Number of the newest search that replaces the query's photo.
    newest: u64,
    /// Queries made so far.
    queries: u64,
    feedback: Feedback,
    last_work: Option<Work>,
    last_timings: Option<Timings>,
}

type Listener = Rc<dyn Fn(&Results)>;

/// What a partitioned catalogue is asked for a query: see [`Session::lookup`].
pub(crate) struct Lookup {
    /// The query's description, its embedding moved by the shopper's feedback.
    pub description: Description,
    pub blend: Blend,
    /// Results wanted (one more than shown, to tell whether there are more).
    pub top: usize,
    pub filters: Filters,
}

/// The shopper's session on one catalogue.
pub(crate) struct Session {
    catalogue: Catalogue,
    /// What is ranked: the whole catalogue, or the items of a partitioned one read so far.
    index: RefCell<CatalogueIndex>,
    /// A partitioned catalogue's items read so far with their records, oldest first.
    read: RefCell<Vec<(Record, Item)>>,
    state: RefCell<State>,
    listeners: RefCell<Vec<Listener>>,
}

impl Session {
    /// A new session on `index` (the whole catalogue, or for a partitioned one none of it
    /// yet: the items read are added as queries read them) with the shopper's stored
    /// `feedback`.
    pub(crate) fn new(catalogue: Catalogue, index: CatalogueIndex, feedback: Feedback) -> Self {
        let shown = catalogue.page_size;
        Self {
            index: RefCell::new(index),
            read: RefCell::new(Vec::new()),
            catalogue,
            state: RefCell::new(State {
                photos: Vec::new(),
                query: None,
                options: SearchOptions::default(),
                shown,
                newest: 0,
                queries: 0,
                feedback,
                last_work: None,
                last_timings: None,
            }),
            listeners: RefCell::new(Vec::new()),
        }
    }

    /// Hands every new set of results to `listener`.
    pub(crate) fn listen(&self, listener: impl Fn(&Results) + 'static) {
        self.listeners.borrow_mut().push(Rc::new(listener));
    }

    /// What is ranked: the whole catalogue, or what has been read of a partitioned one.
    pub(crate) fn index(&self) -> Ref<'_, CatalogueIndex> {
        self.index.borrow()
    }

    /// Items in the whole catalogue.
    pub(crate) fn count(&self) -> usize {
        self.catalogue.count
    }

    /// The categories and colour names of the items results may show, sorted.
    pub(crate) fn facets(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        if let Some(f) = &self.catalogue.facets {
            let (categories, colours) = if self.catalogue.show_out_of_stock {
                (&f.all_categories, &f.all_colours)
            } else {
                (&f.categories, &f.colours)
            };
            return (
                categories.iter().cloned().collect(),
                colours.iter().cloned().collect(),
            );
        }
        let index = self.index();
        let shown: Vec<&Item> = index.items.iter().filter(|i| self.shows(i)).collect();
        (
            shown.iter().filter_map(|i| i.category.clone()).collect(),
            shown
                .iter()
                .flat_map(|i| i.colours.iter().map(|c| c.name.clone()))
                .collect(),
        )
    }

    /// Whether results with `filters` and `feedback` may show `item`: it passes the
    /// filters, is not disliked, and is shown at all.
    fn keeps(&self, feedback: &Feedback, filters: &Filters, item: &Item) -> bool {
        filters.matches(item) && feedback.vote_of(&item.id) >= 0 && self.shows(item)
    }

    /// What a partitioned catalogue must be asked so that ranking the current query with
    /// `options` (`None`: the controls') finds its results among the items read: the query
    /// as [`Session::rank`] ranks it, the blend, the number of results and the filters;
    /// with [`Session::keeps_for`] for the rest. `None` before any query.
    pub(crate) fn lookup(&self, options: Option<&SearchOptions>) -> Option<Lookup> {
        let s = self.state.borrow();
        let query = s.query.clone()?;
        let options = self.resolved(&s, options);
        let index = self.index();
        let embedding = s.feedback.adjust(&index, &query.description.embedding);
        Some(Lookup {
            description: Description {
                embedding,
                ..query.description.clone()
            },
            blend: blend_of(&options),
            top: options.top.unwrap_or(DEFAULT_RESULTS) + 1,
            filters: options.filters,
        })
    }

    /// Whether results with `filters` may show `item` now.
    pub(crate) fn keeps_for(&self, filters: &Filters, item: &Item) -> bool {
        self.keeps(&self.state.borrow().feedback, filters, item)
    }

    /// Whether results show only items that can be ordered.
    pub(crate) fn orderable_only(&self) -> bool {
        !self.catalogue.show_out_of_stock
    }

    /// Which variants of a product are shown.
    pub(crate) fn variants(&self) -> Variants {
        self.catalogue.variants
    }

    /// Adds the items a query read of the partitioned catalogue `published` to what is
    /// ranked; beyond [`MAX_READ`] the oldest ones not voted on are dropped.
    pub(crate) fn add_read(
        &self,
        found: Vec<Found>,
        published: &Published,
    ) -> Result<(), crate::error::AssetError> {
        let mut read = self.read.borrow_mut();
        for f in found {
            read.retain(|(r, _)| r.position != f.record.position);
            read.push((f.record, f.item));
        }
        if read.len() > MAX_READ {
            let feedback = &self.state.borrow().feedback;
            let mut excess = read.len() - MAX_READ;
            read.retain(|(_, item)| {
                let drop = excess > 0 && feedback.vote_of(&item.id) == 0;
                excess -= usize::from(drop);
                !drop
            });
        }
        let index = published.catalogue(read.iter().map(|(r, i)| (r, i)))?;
        *self.index.borrow_mut() = index;
        Ok(())
    }

    /// `options`, or the controls' options with the results shown now.
    fn resolved(&self, s: &State, options: Option<&SearchOptions>) -> SearchOptions {
        match options {
            Some(o) => o.clone(),
            None => SearchOptions {
                top: Some(s.shown),
                ..s.options.clone()
            },
        }
    }

    /// Whether results may show `item` (out of stock only when the widget asks for it).
    pub(crate) fn shows(&self, item: &crate::index::Item) -> bool {
        self.catalogue.show_out_of_stock || item.orderable()
    }

    /// Numbers a search that replaces the query's photo (a new photo or a crop); only the
    /// newest one may show its results, so a slow older search never overwrites a newer one.
    pub(crate) fn next_search(&self) -> u64 {
        let mut s = self.state.borrow_mut();
        s.newest += 1;
        s.newest
    }

    /// Whether `search` is still the newest.
    pub(crate) fn is_newest(&self, search: u64) -> bool {
        self.state.borrow().newest == search
    }

    /// Records when and where the last photo was described.
    pub(crate) fn set_work(&self, work: Work) {
        self.state.borrow_mut().last_work = Some(work);
    }

    /// When and where the last photo was described.
    pub(crate) fn last_work(&self) -> Option<Work> {
        self.state.borrow().last_work
    }

    /// Timings of the last ranking.
    pub(crate) fn last_timings(&self) -> Option<Timings> {
        self.state.borrow().last_timings
    }

    /// Number of photos in the current query.
    pub(crate) fn photo_count(&self) -> usize {
        self.state.borrow().photos.len()
    }

    /// The current query, if one was made.
    pub(crate) fn query(&self) -> Option<Rc<Query>> {
        self.state.borrow().query.clone()
    }

    /// The shopper's likes and dislikes.
    pub(crate) fn feedback(&self) -> Feedback {
        self.state.borrow().feedback.clone()
    }

    /// The vote on item `id`: 1, -1 or 0.
    pub(crate) fn vote_of(&self, id: &str) -> i32 {
        self.state.borrow().feedback.vote_of(id)
    }

    /// The ranking options the widget's controls describe.
    pub(crate) fn set_options(&self, options: SearchOptions) {
        self.state.borrow_mut().options = options;
    }

    /// Shows one page of results again (a new query).
    pub(crate) fn first_page(&self) {
        let page = self.catalogue.page_size;
        self.state.borrow_mut().shown = page;
    }

    /// Shows one page of results more.
    pub(crate) fn next_page(&self) {
        let page = self.catalogue.page_size;
        self.state.borrow_mut().shown += page;
    }

    /// Numbers a new query.
    fn next_query(&self) -> u64 {
        let mut s = self.state.borrow_mut();
        s.queries += 1;
        s.queries
    }

    /// The most probable categories of `probabilities` (none for an untrained model).
    fn labels(&self, probabilities: &[f32]) -> Vec<Label> {
        if !self.catalogue.trained {
            return Vec::new();
        }
        top_labels(&self.catalogue.labels, probabilities, 3)
            .into_iter()
            .map(|(label, score)| Label { label, score })
            .collect()
    }

    /// Makes `photos` (or, with `add`, the current photos and `photos`) the query: one photo
    /// as it is, several combined. Returns the query.
    pub(crate) fn set_photos(&self, photos: Vec<Rc<Photo>>, add: bool) -> Option<Rc<Query>> {
        let all = {
            let mut s = self.state.borrow_mut();
            if !add {
                s.photos.clear();
            }
            s.photos.extend(photos);
            s.photos.clone()
        };
        let query = match all.as_slice() {
            [] => return None,
            [one] => Query {
                id: self.next_query(),
                category: self.labels(&one.description.probabilities),
                description: one.description.clone(),
                crop: one.crop,
                prepare_ms: one.prepare_ms,
                embed_ms: one.embed_ms,
            },
            many => {
                let description = Description::combine(many.iter().map(|p| &p.description))?;
                Query {
                    id: self.next_query(),
                    category: self.labels(&description.probabilities),
                    description,
                    crop: None,
                    prepare_ms: many.iter().map(|p| p.prepare_ms).sum(),
                    embed_ms: many.iter().map(|p| p.embed_ms).sum(),
                }
            }
        };
        let query = Rc::new(query);
        self.state.borrow_mut().query = Some(query.clone());
        Some(query)
    }

    /// Puts `photo` in place of the query's first photo (the one under the crop box), keeping
    /// any added photos. Returns the new query.
    pub(crate) fn replace_first_photo(&self, photo: Rc<Photo>) -> Option<Rc<Query>> {
        let others: Vec<_> = self.state.borrow().photos.iter().skip(1).cloned().collect();
        self.set_photos(std::iter::once(photo).chain(others).collect(), false)
    }

    /// Makes the liked items the query ("more like these"); `None` without likes.
    pub(crate) fn query_from_likes(&self) -> Option<Rc<Query>> {
        let description = self.state.borrow().feedback.liked_query(&self.index())?;
        let query = Rc::new(Query {
            id: self.next_query(),
            description,
            category: Vec::new(),
            crop: None,
            prepare_ms: 0.0,
            embed_ms: 0.0,
        });
        let mut s = self.state.borrow_mut();
        s.photos.clear();
        s.query = Some(query.clone());
        Some(query)
    }

    /// Ranks the current query with `options` (`None`: the controls' options and the results
    /// shown now), with the shopper's feedback; disliked items are left out. Hands the results
    /// to the listeners and returns them; `None` before any query.
    pub(crate) fn rank(&self, options: Option<&SearchOptions>) -> Option<Results> {
        self.rank_after_read(options, 0.0)
    }

    /// [`Session::rank`] after `read_ms` milliseconds spent reading what it ranks.
    pub(crate) fn rank_after_read(
        &self,
        options: Option<&SearchOptions>,
        read_ms: f64,
    ) -> Option<Results> {
        let started = (self.catalogue.clock)();
        let results = {
            let s = self.state.borrow();
            let query = s.query.clone()?;
            let options = self.resolved(&s, options);
            self.ranked(&s.feedback, query, &options, started, read_ms)
        };
        self.state.borrow_mut().last_timings = Some(results.timings);
        let listeners: Vec<Listener> = self.listeners.borrow().clone();
        for listener in listeners {
            listener(&results);
        }
        Some(results)
    }

    fn ranked(
        &self,
        feedback: &Feedback,
        query: Rc<Query>,
        options: &SearchOptions,
        started: f64,
        read_ms: f64,
    ) -> Results {
        let index = self.index();
        let embedding = feedback.adjust(&index, &query.description.embedding);
        let top = options.top.unwrap_or(DEFAULT_RESULTS);
        let hits = rank_where(
            &index,
            crate::index::Query {
                embedding: &embedding,
                ..query.description.query()
            },
            blend_of(options),
            top + 1,
            self.catalogue.variants,
            |item| self.keeps(feedback, &options.filters, item),
        );
        let more = hits.len() > top;
        let predicted = query.category.first().map(|l| l.label.as_str());
        let cards = hits
            .iter()
            .take(top)
            .map(|h| {
                let item = &index.items[h.index];
                Card::new(
                    h,
                    item,
                    (self.catalogue.image_url)(&item.image),
                    reason(h, item, predicted),
                    feedback.vote_of(&item.id),
                )
            })
            .collect();
        let rank_ms = (self.catalogue.clock)() - started;
        Results {
            cards,
            timings: Timings {
                prepare_ms: query.prepare_ms,
                embed_ms: query.embed_ms,
                read_ms,
                rank_ms,
                total_ms: query.prepare_ms + query.embed_ms + read_ms + rank_ms,
            },
            query,
            more,
            filters: options.filters.clone(),
        }
    }

    /// Records a vote (1, -1, or 0 to withdraw one) on item `id`.
    pub(crate) fn vote(&self, id: &str, vote: i32) {
        self.state.borrow_mut().feedback.vote(id, vote);
    }

    /// Forgets every vote.
    pub(crate) fn reset_feedback(&self) {
        let mut s = self.state.borrow_mut();
        let fresh = Feedback::new(&s.feedback.catalogue, &s.feedback.model);
        s.feedback = fresh;
    }
}

/// The blend `options` ask for, defaults where they are silent.
fn blend_of(options: &SearchOptions) -> Blend {
    Blend {
        colour: options.colour_weight.unwrap_or(Blend::DEFAULT.colour),
        category: options.category_weight.unwrap_or(Blend::DEFAULT.category),
    }
}
