// Package hostiletest attacks live server processes as a hostile network
// would (oversized, deep or trickled bodies, bad files, bad shares, slow
// links) and asserts each attack gets a clear 4xx, bounded memory and a
// server that is still healthy afterwards. It has tests only.
package hostiletest
