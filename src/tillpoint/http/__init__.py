"""What the HTTP adapters share: the REST API (``tillpoint.api``) and the browser pages
(``tillpoint.web``) run in one application and both need its services holder, the
client's address, the per-process limiters, the live event stream and the body limits'
marks. They live here so that neither adapter imports the other's insides (the API's
application includes the pages' routes; the pages import nothing of the API)."""
