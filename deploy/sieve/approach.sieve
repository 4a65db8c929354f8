# Approach gateway: client-side filing on the X-Approach-Verdict header (see docs/filtering.md).
#
# The gateway removes any X-Approach-* header a sender put in the message and adds its own, so
# this header can be trusted on mail that came through the gateway. Only the topmost field is
# read (`:index 1`, RFC 5260): the gateway's is prepended above everything the sender wrote, so
# a forged copy that some reader still finds lower down can never decide the filing.
#   suspicious, high -> filed into the "Approach" folder (created if missing), flagged
#   caution          -> kept in the inbox, flagged
# Install as (part of) the user's active script, or as a Pigeonhole sieve_before script.

require ["fileinto", "imap4flags", "mailbox", "index"];

if header :index 1 :is "X-Approach-Verdict" ["suspicious", "high"] {
    addflag "\\Flagged";
    fileinto :create "Approach";
    stop;
}

if header :index 1 :is "X-Approach-Verdict" "caution" {
    addflag "\\Flagged";
    addflag "$ApproachCaution";
}
