// The entry point the page loads (by a versioned URL). It only imports the
// application: modules import each other by plain relative URLs, and a
// module reached by two URLs would run twice.
import './app.js';
